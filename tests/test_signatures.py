"""The model classes advertise their real constructor parameters.

``PriorModel.__new__`` takes ``*args, **kwargs`` (it dispatches Dask data to
the out-of-core classes); Sphinx's autodoc reads ``__new__`` before
``__init__``, so without ``__signature__`` the API page would show
``PriorRidge(*args, **kwargs)``.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import statsmodels.api as sm

import priorreg as pr
from priorreg.outofcore import DaskPriorGLM, DaskPriorRidge


@pytest.mark.parametrize("cls", [pr.PriorRidge, pr.PriorGLM, DaskPriorRidge, DaskPriorGLM])
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


@pytest.mark.parametrize(
    ("dask_cls", "memory_cls"), [(DaskPriorRidge, pr.PriorRidge), (DaskPriorGLM, pr.PriorGLM)]
)
def test_dask_models_take_the_in_memory_parameters_and_progress(dask_cls, memory_cls):
    dask_sig, memory_sig = inspect.signature(dask_cls), inspect.signature(memory_cls)
    assert list(dask_sig.parameters) == [*memory_sig.parameters, "progress"]
    for name, param in memory_sig.parameters.items():
        assert dask_sig.parameters[name] == param
    assert dask_sig.parameters["progress"].kind is inspect.Parameter.KEYWORD_ONLY
    assert dask_sig.parameters["progress"].default is False


def test_dask_models_refuse_an_unknown_option_as_the_in_memory_ones_do():
    import dask.array as da

    X = da.from_array(np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]]), chunks=2)
    y = da.from_array(np.array([1.0, 2.0, 4.0]), chunks=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        DaskPriorRidge(y, X, bogus=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        pr.PriorGLM(y, X, bogus=1)  # dispatched to DaskPriorGLM
    with pytest.raises(TypeError, match="too many positional"):
        DaskPriorGLM(y, X, None, None)
    # the options reach the model as before: progress, the per-row offset and the family
    mod = DaskPriorGLM(y, X, sm.families.Poisson(), offset=0.5, progress=False)
    assert isinstance(mod.family, sm.families.Poisson)
    assert mod.progress is False
