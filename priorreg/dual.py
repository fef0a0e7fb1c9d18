"""The wide path, kept importable here: it lives in :mod:`priorreg.linalg.wide`."""

from __future__ import annotations

from priorreg.linalg.wide import RowGram

__all__ = ["RowGram"]
