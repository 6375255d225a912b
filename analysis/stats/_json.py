"""JSON-safe conversion shared by the result objects of the statistics modules.

Results are stored as JSON (analysis runs) and rendered in templates, so every result
object offers ``to_dict()`` built on :func:`json_safe`: NaN and ±inf become ``None``
(JSON has no NaN, and an infinite hazard ratio is not a number worth showing), numpy
scalars become Python scalars, DataFrames become lists of records.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["json_safe", "as_float", "JsonResult"]


def as_float(value) -> float | None:
    """A finite Python float, or None for NaN, ±inf, NA and None."""
    if value is None or value is pd.NA:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def json_safe(value):
    """Recursively convert ``value`` into plain JSON-serialisable Python objects."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_dict"):
            return value.to_dict()
        return json_safe({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, pd.DataFrame):
        return [json_safe(record) for record in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return json_safe(value.to_list())
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [json_safe(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return as_float(value)
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, str):
        return value
    return str(value)


class JsonResult:
    """Mixin for result dataclasses: ``to_dict()`` returns a JSON-safe dict of the fields."""

    def to_dict(self) -> dict:
        return {
            f.name: json_safe(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        }
