"""The estimators' docstrings are complete numpydoc after their shared sections are filled in."""

from __future__ import annotations

import inspect

import pytest

from priorreg.sklearn import PriorGLMRegressor, PriorLogisticClassifier, PriorRidgeRegressor
from priorreg.sklearn._base import _SECTIONS, shared_docs

ESTIMATORS = [PriorRidgeRegressor, PriorGLMRegressor, PriorLogisticClassifier]


def _docstrings():
    for cls in ESTIMATORS:
        yield cls.__name__, cls.__doc__
        for name, member in inspect.getmembers(cls, inspect.isfunction):
            if not name.startswith("_") and member.__doc__:
                yield f"{cls.__name__}.{name}", member.__doc__


@pytest.mark.parametrize(("name", "doc"), list(_docstrings()))
def test_no_section_is_left_as_a_placeholder(name, doc):
    placeholders = [f"{{{key}}}" for key in _SECTIONS]
    assert not [line for line in doc.splitlines() if line.strip() in placeholders], name


def test_a_section_is_indented_as_its_placeholder():
    def f():
        """Do it.

            {X}
        """

    lines = shared_docs(f).__doc__.splitlines()
    assert lines[2:5] == [
        "            Parameters",
        "            ----------",
        "            X : array-like of shape (n_samples, n_features)",
    ]


def test_the_shared_sections_reach_every_estimator_that_uses_them():
    assert "Maximum IRLS iterations" in PriorGLMRegressor.__doc__
    assert "Maximum IRLS iterations" in PriorLogisticClassifier.__doc__
    assert "Maximum IRLS iterations" not in PriorRidgeRegressor.__doc__
    for method in (PriorRidgeRegressor.predict, PriorLogisticClassifier.decision_function):
        assert "ndarray of shape (n_samples,)" in method.__doc__
