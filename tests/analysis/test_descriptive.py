"""Table I style baseline description."""

import json

import numpy as np
import pandas as pd

from analysis.stats.descriptive import describe_baseline, format_number


def cohort():
    return pd.DataFrame(
        {
            "age": [73, 38, 89, 60, np.nan],
            "sex": ["Male", "Female", "Male", "Male", "Female"],
            "afp": [15.8, 1.0, 126234.0, 20.5, 3.25],
            "diabetes": [1, 0, 0, 1, np.nan],
            "bclc": pd.Categorical(["A", "B", "A", "A", "B"], categories=["0", "A", "B", "C"]),
        }
    )


def test_continuous_median_range_and_missing():
    table = describe_baseline(cohort(), ["age", "afp"])
    age, afp = table.rows
    assert (age.n, age.n_missing) == (4, 1)
    assert (age.median, age.minimum, age.maximum) == (66.5, 38.0, 89.0)
    assert age.text == "66.5 (38–89)"
    assert afp.text == "15.8 (1–126234)"
    assert table.n_total == 5


def test_categorical_counts_and_percent_of_known_values():
    table = describe_baseline(
        cohort(), {"sex": "categorical", "diabetes": "categorical", "bclc": "categorical"}
    )
    sex, diabetes, bclc = table.rows
    assert [(lv.level, lv.n) for lv in sex.levels] == [("Female", 2), ("Male", 3)]
    assert [lv.percent for lv in sex.levels] == [40.0, 60.0]
    assert (diabetes.n, diabetes.n_missing) == (4, 1)
    assert [lv.percent for lv in diabetes.levels] == [50.0, 50.0]
    # categorical dtype keeps its category order, empty levels included
    assert [(lv.level, lv.n) for lv in bclc.levels] == [("0", 0), ("A", 3), ("B", 2), ("C", 0)]


def test_kind_inference_and_display_frame():
    table = describe_baseline(cohort(), ["age", "sex"])
    assert [row.kind for row in table.rows] == ["continuous", "categorical"]
    frame = table.to_frame()
    assert frame.to_dict("records")[1:] == [
        {"variable": "sex", "level": "Female", "value": "2 (40)", "n": 5, "n_missing": 0},
        {"variable": "sex", "level": "Male", "value": "3 (60)", "n": 5, "n_missing": 0},
    ]


def test_subgroup_is_the_callers_filter_and_empty_variables_do_not_fail():
    df = cohort()
    table = describe_baseline(df[df["sex"] == "Female"], ["age", "afp"])
    assert table.n_total == 2
    assert table.rows[0].n == 1
    empty = describe_baseline(df.iloc[0:0], ["age", "sex"])
    assert empty.rows[0].median is None and empty.rows[0].text == "NA"
    assert empty.rows[1].levels == []


def test_to_dict_is_json_safe():
    payload = describe_baseline(cohort(), ["age", "sex", "bclc", "diabetes"]).to_dict()
    text = json.dumps(payload, allow_nan=False)
    assert '"kind": "categorical"' in text


def test_format_number():
    assert [format_number(x) for x in (3.0, 0.9, 5.25, 1 / 3, np.nan)] == [
        "3", "0.9", "5.25", "0.333", "NA"
    ]
