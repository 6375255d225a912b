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
    # The plain types come first, by exact type: a run's payload is mostly these (a
    # 10,000-patient run holds tens of thousands of them), and each costs one lookup
    # instead of the chain of checks below; the results are the same as below.
    kind = type(value)
    if kind is str or kind is bool or kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict:
        return {str(key): json_safe(item) for key, item in value.items()}
    if kind is list:
        return [json_safe(item) for item in value]
    if kind is _Records:
        return list(value)  # converted when made: its records are plain already
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_dict"):
            return value.to_dict()
        return json_safe({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, pd.DataFrame):
        return _frame_records(value)
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


def _plain_column(values: np.ndarray) -> list:
    """A numpy column as json_safe would convert it value by value, in one pass."""
    if values.dtype.kind == "f":
        return [item if math.isfinite(item) else None for item in values.tolist()]
    return values.tolist()  # integers and booleans: Python ints and bools


class _Records(list):
    """The records ``json_safe`` made of a DataFrame. A result passes through json_safe
    more than once on its way into a run (its ``to_dict``, then the analysis's payload
    around it): the records are plain already, so json_safe copies the list, not every
    value of every record again (a Kaplan-Meier curve has a record per distinct time),
    and the payload holds a plain list. A list all the same wherever it is seen."""

    __slots__ = ()


def _frame_records(frame: pd.DataFrame) -> list[dict]:
    """``json_safe`` of every record of ``frame``. Columns of plain numpy numbers (a
    Kaplan-Meier curve: a row per distinct time, thousands of rows at 10,000 patients)
    are converted column by column; a frame with any other column is converted value
    by value."""
    plain = (
        len(frame.columns) > 0
        and frame.columns.is_unique
        and all(isinstance(dtype, np.dtype) and dtype.kind in "fiub" for dtype in frame.dtypes)
    )
    if not plain:
        return _Records(json_safe(record) for record in frame.to_dict(orient="records"))
    names = [str(name) for name in frame.columns]
    columns = [_plain_column(frame[name].to_numpy()) for name in frame.columns]
    return _Records(dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True))


class JsonResult:
    """Mixin for result dataclasses: ``to_dict()`` returns a JSON-safe dict of the fields."""

    def to_dict(self) -> dict:
        return {
            f.name: json_safe(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        }
