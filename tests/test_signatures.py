"""The model classes advertise their real constructor parameters.

``PriorModel.__new__`` takes ``*args, **kwargs`` (it dispatches Dask data to
the out-of-core classes); Sphinx's autodoc reads ``__new__`` before
``__init__``, so without ``__signature__`` the API page would show
``PriorRidge(*args, **kwargs)``.
"""

from __future__ import annotations

import inspect

import pytest

import priorreg as pr


@pytest.mark.parametrize("cls", [pr.PriorRidge, pr.PriorGLM])
def test_class_signature_is_the_constructor_s(cls):
    sig = cls.__signature__  # what autodoc shows when the attribute is a Signature
    assert isinstance(sig, inspect.Signature)
    init = list(inspect.signature(cls.__init__).parameters)
    assert list(sig.parameters) == init[1:]  # every parameter of __init__ but self
    assert list(sig.parameters)[:2] == ["endog", "exog"]
    assert all(p.kind is not p.VAR_POSITIONAL for p in sig.parameters.values())
    assert inspect.signature(cls) == sig


def test_signature_does_not_change_construction():
    mod = pr.PriorRidge([1.0, 2.0, 4.0], [[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]], prior=[0.0, 1.0])
    assert type(mod) is pr.PriorRidge
    with pytest.raises(TypeError, match="unexpected keyword"):
        pr.PriorRidge([1.0, 2.0], [[1.0], [1.0]], bogus=1)
