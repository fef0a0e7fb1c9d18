"""Run the Examples sections of every module's docstrings (of the installed package)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import priorreg

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(priorreg.__path__, "priorreg.")
    if not name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
