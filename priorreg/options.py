"""What a model was built with, so that ``refine`` can rebuild it on new data.

A model from a formula remembers how each per-row option (``weights``,
``offset``, ``exposure``, ``freq_weights``, ``var_weights``) was given: as
a column name of the data (reapplied to the new data by name), as a
constant (reapplied as is), or as an array (one value per row of the old
data: it cannot describe the rows of new data, so ``refine`` asks for it
again). With the family and link, the missing-value policy,
``standardize`` and the scale option they make :class:`ModelOptions`, which
``refine`` reapplies and a prior file records as plain JSON.

A prior file is data from elsewhere: :func:`options_from_json` accepts only
column names (strings, looked up in the data later, never evaluated),
booleans, numbers and family and link names from the fixed tables of
:mod:`priorreg.families`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from priorreg import families as _families
from priorreg.scale import check_scale

__all__ = [
    "ROW_OPTIONS",
    "ModelOptions",
    "model_options",
    "options_from_json",
    "options_to_json",
    "refine_kwargs",
    "row_sources",
]

#: Per-row options of the models, in the order they are reported.
ROW_OPTIONS = ("weights", "offset", "exposure", "freq_weights", "var_weights")


class _Array:
    """Marks a per-row option given as an array (not reapplicable to new data)."""

    def __repr__(self) -> str:
        return "<array>"


#: The recorded source of a per-row option given as an array.
ARRAY = _Array()


@dataclass(frozen=True)
class ModelOptions:
    """How a model was built, in a form that can be applied to new data.

    Attributes
    ----------
    model : str
        ``"PriorRidge"`` or ``"PriorGLM"``.
    rows : dict
        Per-row option -> column name (str), constant (float) or
        :data:`ARRAY` (given as an array).
    family : statsmodels family or None
        The GLM family (with its link); ``None`` for the linear model.
    family_text : str or None
        How the family reads (shown in errors when it cannot be rebuilt).
    missing : str
        ``"drop"`` or ``"raise"``.
    standardize : bool
    scale : None, "x2", "dev" or float
        The GLM scale option of the fit (``fit(scale=...)``).
    """

    model: str
    rows: Mapping[str, str | float | _Array] = field(default_factory=dict)
    family: Any = None
    family_text: str | None = None
    missing: str = "drop"
    standardize: bool = False
    scale: str | float | None = None


def row_sources(rows: Mapping[str, Any]) -> dict[str, str | float | _Array]:
    """How each given per-row option was specified (column name, constant, array)."""
    out: dict[str, str | float | _Array] = {}
    for key, value in rows.items():
        if value is None:
            continue
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(value)
        else:
            out[key] = ARRAY
    return out


def model_options(results: Any) -> ModelOptions:
    """The options of the model behind ``results`` (a results object or wrapper)."""
    res = getattr(results, "_results", results)
    model = res.model
    design = getattr(model, "design", None)
    family = getattr(model, "family", None)
    return ModelOptions(
        model="PriorGLM" if family is not None else "PriorRidge",
        rows=dict(getattr(model, "_row_sources", {})),
        family=family,
        family_text=None if family is None else _families.describe(family),
        missing="drop" if design is None or design.na_action == "drop" else "raise",
        standardize=bool(getattr(model, "standardize", False)),
        scale=getattr(res, "scaletype", None),
    )


def refine_kwargs(options: ModelOptions, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Model keyword arguments for new data: the recorded options, then ``overrides``.

    Raises
    ------
    ValueError
        A per-row option that was given as an array and is not given again.
    """
    out: dict[str, Any] = {"standardize": options.standardize}
    if options.family is not None:
        out["family"] = options.family
    for key, source in options.rows.items():
        if key in overrides:
            continue
        if source is ARRAY:
            raise ValueError(
                f"{key} was given as an array when the model was built, so it cannot be "
                f"reapplied to new data: pass it again, e.g. refine(newdata, "
                f"{key}=newdata['column']) or {key}='column' (or {key}=None to drop it)"
            )
        out[key] = source
    out.update(overrides)
    return {key: value for key, value in out.items() if not (key in ROW_OPTIONS and value is None)}


def options_to_json(options: ModelOptions) -> dict[str, Any]:
    """Plain JSON for a prior file (arrays are recorded as ``{"array": true}``)."""
    rows: dict[str, Any] = {}
    for key, source in options.rows.items():
        rows[key] = {"array": True} if source is ARRAY else source
    doc: dict[str, Any] = {
        "model": options.model,
        "rows": rows,
        "missing": options.missing,
        "standardize": options.standardize,
        "scale": options.scale,
    }
    if options.family is not None:
        doc["family"] = _families.family_to_json(options.family)
    return doc


def _bad(path: Any, what: str) -> ValueError:
    return ValueError(f"{path}: the prior file's options are not valid ({what})")


def options_from_json(doc: Any, path: Any = "prior file") -> ModelOptions | None:
    """Validate the ``options`` of a prior file; ``None`` for files without them.

    Nothing is evaluated: column names must be strings, constants finite
    numbers, the family and link names entries of the fixed tables.
    """
    if doc is None:
        return None
    if not isinstance(doc, Mapping):
        raise _bad(path, "not an object")
    model = doc.get("model")
    if model not in ("PriorRidge", "PriorGLM"):
        raise _bad(path, f"model {model!r} is not PriorRidge or PriorGLM")
    rows: dict[str, str | float | _Array] = {}
    raw_rows = doc.get("rows", {})
    if not isinstance(raw_rows, Mapping):
        raise _bad(path, "rows is not an object")
    for key, source in raw_rows.items():
        if key not in ROW_OPTIONS:
            raise _bad(path, f"unknown row option {key!r}; known: {list(ROW_OPTIONS)}")
        if isinstance(source, str):
            rows[key] = source
        elif isinstance(source, Mapping) and source.get("array") is True:
            rows[key] = ARRAY
        elif (
            isinstance(source, (int, float))
            and not isinstance(source, bool)
            and math.isfinite(source)
        ):
            rows[key] = float(source)
        else:
            raise _bad(path, f"{key} must be a column name, a number or an array marker")
    missing = doc.get("missing", "drop")
    if missing not in ("drop", "raise"):
        raise _bad(path, f"missing {missing!r} is not 'drop' or 'raise'")
    standardize = doc.get("standardize", False)
    if not isinstance(standardize, bool):
        raise _bad(path, "standardize is not true or false")
    try:
        scale = check_scale(doc.get("scale"))
    except (TypeError, ValueError) as exc:
        raise _bad(path, str(exc)) from exc
    family, family_text = None, None
    if model == "PriorGLM":
        try:
            family, family_text = _families.family_from_json(doc.get("family"))
        except (TypeError, ValueError) as exc:
            raise _bad(path, str(exc)) from exc
    return ModelOptions(
        model=model,
        rows=rows,
        family=family,
        family_text=family_text,
        missing=missing,
        standardize=standardize,
        scale=scale,
    )
