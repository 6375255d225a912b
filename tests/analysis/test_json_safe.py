"""json_safe's fast paths (plain Python values by exact type, numeric DataFrames column
by column) give exactly what the value-by-value conversion gives."""

import math

import numpy as np
import pandas as pd

from analysis.stats._json import json_safe


def value_by_value(frame: pd.DataFrame) -> list[dict]:
    return [
        {str(key): json_safe(item) for key, item in record.items()}
        for record in frame.to_dict(orient="records")
    ]


def test_plain_values_keep_their_value_and_type():
    found = json_safe({"a": 1, "b": 2.5, "c": True, "d": "x", 3: [math.nan, math.inf, -0.0]})
    assert found == {"a": 1, "b": 2.5, "c": True, "d": "x", "3": [None, None, -0.0]}
    assert type(found["c"]) is bool and type(found["a"]) is int


def test_a_numeric_frame_is_converted_as_value_by_value():
    frame = pd.DataFrame(
        {
            "time": [0.0, 1.5, 2.0],
            "survival": [1.0, np.nan, np.inf],
            "at_risk": np.array([10, 9, 8], dtype=np.int64),
            "small": np.array([1, 2, 3], dtype=np.uint8),
            "flag": [True, False, True],
            "single": np.array([0.1, np.nan, 2.0], dtype=np.float32),
        }
    )
    found = json_safe(frame)
    assert found == value_by_value(frame)
    assert found[1]["survival"] is None and found[2]["survival"] is None
    assert [type(v) for v in found[0].values()] == [float, float, int, int, bool, float]


def test_a_frame_with_other_columns_is_converted_value_by_value():
    frame = pd.DataFrame(
        {
            "n": pd.array([1, None, 3], dtype="Int64"),
            "group": ["a", None, "c"],
            "when": pd.to_datetime(["2024-01-01", None, "2024-03-01"]),
            "x": [1.0, np.nan, 3.0],
        }
    )
    found = json_safe(frame)
    assert found == value_by_value(frame)
    assert found[1] == {"n": None, "group": None, "when": None, "x": None}


def test_a_frame_without_columns_is_converted_as_before():
    frame = pd.DataFrame(index=range(2))
    assert json_safe(frame) == value_by_value(frame)


def test_a_frames_records_converted_again_are_a_plain_list_of_the_same_records():
    """A result passes through json_safe more than once (its to_dict, then the run's
    payload): the second pass keeps the records as they are and hands a plain list."""
    once = json_safe({"curve": pd.DataFrame({"time": [1.0, np.nan], "at_risk": [2, 1]})})
    twice = json_safe(once)
    assert twice == once == {"curve": [{"time": 1.0, "at_risk": 2}, {"time": None, "at_risk": 1}]}
    assert type(twice["curve"]) is list
