"""The scikit-learn estimators' parameters: declared once, stated in full in each signature.

scikit-learn reads the parameters from ``inspect.signature(cls.__init__)``;
the estimators' ``__init__`` is generated from one declaration
(:func:`priorreg.sklearn._base.parameters_init`), so these tests check what
the user and scikit-learn see: the signature, the stored attributes, the
errors of a bad call, and that the docstring names every parameter.
"""

from __future__ import annotations

import inspect
import re

import pytest
from sklearn.base import clone

from priorreg.sklearn import PriorGLMRegressor, PriorLogisticClassifier, PriorRidgeRegressor

COMMON = ["lam", "prior", "penalty", "standardize", "fit_intercept", "bounds", "cov_type"]
EXPECTED = {
    PriorRidgeRegressor: COMMON,
    PriorGLMRegressor: ["family", "link", *COMMON, "max_iter", "tol"],
    PriorLogisticClassifier: [*COMMON, "max_iter", "tol"],
}
#: A value other than the default for every parameter.
OTHER = {
    "family": "gamma",
    "link": "log",
    "lam": 3.0,
    "prior": [1.0, 2.0],
    "penalty": [1.0, 0.5],
    "standardize": True,
    "fit_intercept": False,
    "bounds": "nonnegative",
    "cov_type": "sandwich",
    "max_iter": 7,
    "tol": 1e-5,
}


@pytest.mark.parametrize("cls", list(EXPECTED))
def test_signature_states_every_parameter_in_order(cls):
    sig = inspect.signature(cls)
    assert list(sig.parameters) == EXPECTED[cls]
    assert list(inspect.signature(cls.__init__).parameters) == ["self", *EXPECTED[cls]]
    kinds = {p.kind for p in sig.parameters.values()}
    assert kinds == {inspect.Parameter.POSITIONAL_OR_KEYWORD}  # no *args, no **kwargs
    assert sorted(cls().get_params()) == sorted(EXPECTED[cls])
    assert {k: v.default for k, v in sig.parameters.items()} == cls().get_params()


@pytest.mark.parametrize("cls", list(EXPECTED))
def test_each_parameter_is_stored_as_given_by_keyword_or_position(cls):
    names = EXPECTED[cls]
    values = [OTHER[name] for name in names]
    for est in (cls(**dict(zip(names, values, strict=True))), cls(*values)):
        assert est.get_params() == dict(zip(names, values, strict=True))
        assert vars(est) == dict(zip(names, values, strict=True))  # nothing else is set
        assert clone(est).get_params() == est.get_params()


@pytest.mark.parametrize("cls", list(EXPECTED))
def test_a_bad_call_is_the_usual_type_error(cls):
    with pytest.raises(TypeError, match="unexpected keyword argument 'alpha'"):
        cls(alpha=1.0)
    with pytest.raises(TypeError, match="multiple values for argument"):
        cls(1.0, **{EXPECTED[cls][0]: 2.0})
    with pytest.raises(TypeError, match="too many positional"):
        cls(*range(len(EXPECTED[cls]) + 1))


@pytest.mark.parametrize("cls", list(EXPECTED))
def test_the_docstring_names_every_parameter(cls):
    section = cls.__doc__.split("Parameters\n")[1].split("Attributes\n")[0]
    documented = set(re.findall(r"^\s{4}(\w+(?:, \w+)*)(?: :|$)", section, re.MULTILINE))
    names = {name for entry in documented for name in entry.split(", ")}
    assert set(EXPECTED[cls]) <= names, set(EXPECTED[cls]) - names
