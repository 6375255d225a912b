"""Data dictionaries: declared (JSON, header), inferred, applied; nothing read silently wrong.

lung.csv is R survival's lung dataset in its original codings (status 1 = censored,
2 = dead; sex 1/2; time in days), written by tests/analysis/r/lung_dictionary.R, which
also printed the reference numbers used here (165 events, log-rank by sex 10.32674).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.cohort import (
    export_header_lines,
    paper_dictionary,
    read_cohort_csv,
    read_cohort_file,
    write_cohort_csv,
)
from analysis.dictionary import (
    CohortFormatError,
    ColumnInfo,
    DataDictionary,
    apply_dictionary,
    dictionary_from_json,
    infer_dictionary,
    parse_header,
)
from analysis.stats.survival import logrank

LUNG = Path(__file__).parent / "data" / "lung.csv"
LUNG_EVENTS = 165  # R: sum(lung$status == 2)
LUNG_LOGRANK_BY_SEX = 10.32674  # R: survdiff(Surv(time, status) ~ sex, data = lung)$chisq

LUNG_DICTIONARY = {
    "time_unit": "days",
    "columns": [
        {"name": "time", "type": "numeric", "role": "time", "label": "Survival time"},
        {
            "name": "status",
            "type": "boolean",
            "role": "event",
            "label": "Death",
            "event_values": [2],
            "censored_values": [1],
        },
        {
            "name": "sex",
            "type": "categorical",
            "levels": ["1", "2"],
            "level_labels": ["male", "female"],
            "label": "Sex",
        },
    ],
}
LUNG_HEADER = (
    "# time_unit: days\n"
    '# column time: numeric role=time label="Survival time"\n'
    "# column status: boolean role=event event=2 censored=1 label=Death\n"
    "# column sex: categorical levels=1,2 labels=male,female label=Sex\n"
)


def lung_text() -> str:
    return LUNG.read_text()


def read(text: str, dictionary=None):
    return read_cohort_file(io.StringIO(text), dictionary=dictionary)


class TestDeclared:
    def test_json_dictionary_codes_the_events_as_r_does(self):
        cohort = read(lung_text(), dictionary_from_json(LUNG_DICTIONARY))
        table = cohort.table
        assert table["status"].dtype == "boolean"
        assert int(table["status"].sum()) == LUNG_EVENTS
        assert len(table) == 228 and table["status"].notna().all()
        test = logrank(table, "time", "status", "sex")
        assert test.chisq == pytest.approx(LUNG_LOGRANK_BY_SEX, abs=1e-4)
        assert cohort.dictionary.time_unit == "days" and cohort.dictionary.source == "declared"

    def test_header_declares_the_same_dictionary(self):
        from_header = read(LUNG_HEADER + lung_text())
        from_json = read(lung_text(), dictionary_from_json(LUNG_DICTIONARY))
        pd.testing.assert_frame_equal(from_header.table, from_json.table)
        assert from_header.dictionary.columns["status"].event_values == ("2",)
        assert from_header.dictionary.label("sex") == "Sex"
        assert from_header.dictionary.time_unit == "days"

    def test_sex_coded_1_2_stays_categorical_and_can_be_split(self):
        table = read(lung_text(), dictionary_from_json(LUNG_DICTIONARY)).table
        assert table["sex"].dtype == "string"
        assert table["sex"].value_counts().to_dict() == {"1": 138, "2": 90}
        info = dictionary_from_json(LUNG_DICTIONARY).columns["sex"]
        assert info.level_label(2) == "female" and info.level_label("1.0") == "male"

    def test_time_unit_from_the_time_column_unit(self):
        header = "# column futime: numeric role=time unit=weeks\n"
        dictionary = parse_header(header.lstrip("#").splitlines())
        assert dictionary.time_unit == "weeks"

    def test_text_event_mapped_to_event_and_censored(self):
        text = "id,months,vital\nA,3,dead\nB,5,Alive\nC,7,lost\nD,2,DEAD\n"
        dictionary = dictionary_from_json(
            {
                "time_unit": "months",
                "columns": [
                    {"name": "id", "type": "id", "role": "id"},
                    {"name": "months", "type": "numeric", "role": "time"},
                    {
                        "name": "vital",
                        "type": "boolean",
                        "role": "event",
                        "event_values": ["dead"],
                        "censored_values": ["alive", "lost"],
                    },
                ],
            }
        )
        table = read(text, dictionary).table
        assert list(table["study_id"]) == ["A", "B", "C", "D"]  # from the id column
        assert list(table["vital"]) == [True, False, False, True]

    def test_a_value_outside_the_coding_names_column_line_and_value(self):
        text = lung_text().replace("\n3,455,2,", "\n3,455,9,", 1)
        with pytest.raises(CohortFormatError, match=r"line 3, column status: '9' is neither"):
            read(text, dictionary_from_json(LUNG_DICTIONARY))

    def test_the_line_counts_the_header_comments(self):
        text = LUNG_HEADER + lung_text().replace("\n3,455,2,68,1,", "\n3,455,2,68,3,", 1)
        with pytest.raises(CohortFormatError, match=r"line 7, column sex: '3' is not one of"):
            read(text)

    @pytest.mark.parametrize("value", ["02/01/2020", "2020-13-01", "soon"])
    def test_dates_are_iso_or_refused(self, value):
        text = f"study_id,seen\nP1,2020-01-02\nP2,{value}\n"
        dictionary = DataDictionary({"seen": ColumnInfo("seen", "date")}, source="declared")
        assert list(read("study_id,seen\nP1,2020-01-02\n", dictionary).table["seen"]) == [
            "2020-01-02"
        ]
        with pytest.raises(
            CohortFormatError, match=f"line 3, column seen: '{value}' is not a date"
        ):
            read(text, dictionary)

    def test_a_number_that_is_not_names_column_line_and_value(self):
        text = "study_id,age\nP1,70\nP2,seventy\n"
        dictionary = DataDictionary({"age": ColumnInfo("age", "numeric")}, source="declared")
        with pytest.raises(CohortFormatError, match=r"line 3, column age: 'seventy' is not"):
            read(text, dictionary)

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"type": "numeric"}, "an event column is boolean"),
            ({"event_values": ["2"], "censored_values": []}, "declare both"),
            ({"event_values": ["2"], "censored_values": ["2.0"]}, "both event and censored"),
            ({"type": "bogus", "role": "variable"}, "type 'bogus'"),
            ({"colour": "red"}, "unknown key"),
        ],
    )
    def test_contradictory_dictionaries_are_refused(self, change, message):
        data = json.loads(json.dumps(LUNG_DICTIONARY))
        data["columns"][1].update(change)
        with pytest.raises(CohortFormatError, match=message):
            dictionary_from_json(data)

    def test_types_implied_by_role_coding_and_levels(self):
        dictionary = dictionary_from_json(
            {
                "time_unit": "Days",
                "columns": [
                    {
                        "name": "status",
                        "role": "event",
                        "event_values": [2],
                        "censored_values": [1],
                    },
                    {"name": "sex", "levels": [1, 2]},
                    {"name": "age"},
                ],
            }
        )
        kinds = {name: info.type for name, info in dictionary.columns.items()}
        assert kinds == {"status": "boolean", "sex": "categorical", "age": "numeric"}
        assert dictionary.time_unit == "days"
        with pytest.raises(CohortFormatError, match="time_unit 'fortnights'; choose days"):
            dictionary_from_json({"time_unit": "fortnights", "columns": []})

    def test_a_time_column_needs_its_unit(self):
        data = {**LUNG_DICTIONARY}
        del data["time_unit"]
        with pytest.raises(CohortFormatError, match="say the unit of the time column 'time'"):
            dictionary_from_json(data)

    def test_a_dictionary_naming_a_missing_column_is_refused(self):
        data = json.loads(json.dumps(LUNG_DICTIONARY))
        data["columns"].append({"name": "karnofsky", "type": "numeric"})
        with pytest.raises(CohortFormatError, match="'karnofsky', which the file lacks"):
            read(lung_text(), dictionary_from_json(data))

    def test_bad_header_lines_are_refused(self):
        with pytest.raises(CohortFormatError, match="header line 1 .column sex.: start with"):
            parse_header([" column sex: levels=1,2"])
        with pytest.raises(CohortFormatError, match="'colour=red' is not key=value"):
            parse_header([" column sex: categorical colour=red"])

    def test_a_header_without_a_dictionary_declares_none(self):
        assert parse_header([" saved by Excel", " fingerprint: sha256:abc"]) is None


class TestUndeclaredEvents:
    def test_1_2_event_without_coding_is_refused_with_how_to_declare_it(self):
        with pytest.raises(CohortFormatError) as caught:
            read(lung_text())
        message = str(caught.value)
        assert "column status is the event column but looks 1/2-coded" in message
        assert "event=2 censored=1" in message and '"event_values": ["2"]' in message
        assert caught.value.dictionary.columns["status"].role == "event"  # shown to the user

    def test_1_2_event_declared_without_coding_is_refused(self):
        dictionary = DataDictionary(
            {"status": ColumnInfo("status", "boolean", "event")}, source="declared"
        )
        with pytest.raises(CohortFormatError, match="looks 1/2-coded"):
            read(lung_text(), dictionary)

    def test_an_undeclared_1_2_status_beside_a_declared_dictionary_is_refused(self):
        text = "# time_unit: days\n# column time: numeric role=time\n" + lung_text()
        with pytest.raises(CohortFormatError, match="column status looks like an event column"):
            read(text)
        as_categories = "# column status: categorical levels=1,2\n" + text
        assert read(as_categories).table["status"].value_counts()["2"] == LUNG_EVENTS

    def test_dead_alive_without_coding_is_refused(self):
        text = "study_id,time_days,status\nA,3,dead\nB,5,alive\n"
        with pytest.raises(CohortFormatError, match="holds 'alive', 'dead'") as caught:
            read(text)
        assert "event=dead censored=alive" in str(caught.value)

    def test_booleans_and_0_1_are_accepted_as_they_are(self):
        text = "study_id,time_days,event\nA,3,1\nB,5,0\nC,6,\n"
        cohort = read(text)
        assert list(cohort.table["event"]) == [True, False, pd.NA]
        assert cohort.dictionary.columns["event"].role == "event"
        assert cohort.dictionary.source == "inferred"


class TestInferred:
    def test_types_roles_levels_and_time_unit(self):
        raw = pd.DataFrame(
            {
                "study_id": ["A", "B", "C", "D"],
                "os_days": ["10", "20", "30", "40"],
                "death": ["true", "false", "true", "false"],
                "sex": ["1", "2", "2", "1"],
                "stage": ["I", "II", "II", "I"],
                "age": ["70", "61.5", "80", None],
                "operated": ["2020-01-02", "2021-03-04", None, "2019-12-31"],
                "note": ["a", "b", "c", "d"],
            }
        )
        dictionary = infer_dictionary(raw)
        kinds = {n: (c.type, c.role) for n, c in dictionary.columns.items()}
        assert kinds == {
            "study_id": ("id", "id"),
            "os_days": ("numeric", "time"),
            "death": ("boolean", "event"),
            "sex": ("categorical", "variable"),
            "stage": ("categorical", "variable"),
            "age": ("numeric", "variable"),
            "operated": ("date", "variable"),
            "note": ("text", "variable"),
        }
        assert dictionary.columns["sex"].levels == ("1", "2")
        assert dictionary.time_unit == "days"
        table = apply_dictionary(raw, dictionary)
        assert list(table["operated"].astype(object)) == [
            "2020-01-02",
            "2021-03-04",
            pd.NA,
            "2019-12-31",
        ]

    def test_a_true_false_event_wins_over_a_text_status(self):
        # our own export without its header: dss_event is the event, vital_status a variable
        raw = pd.DataFrame(
            {
                "study_id": ["A", "B", "C"],
                "vital_status": ["alive", "dead", "lost"],
                "dss_months": ["1.5", "2.5", "3"],
                "dss_event": ["False", "True", "False"],
            }
        )
        dictionary = infer_dictionary(raw)
        assert dictionary.with_role("event") == ["dss_event"]
        assert dictionary.with_role("time") == ["dss_months"]
        assert dictionary.time_unit == "months"

    def test_the_inferred_json_reads_back_as_a_declared_dictionary(self):
        with pytest.raises(CohortFormatError) as caught:
            read(lung_text())
        shown = json.loads(caught.value.dictionary.to_json())
        shown["time_unit"] = "days"
        status = next(c for c in shown["columns"] if c["name"] == "status")
        status.update(event_values=["2"], censored_values=["1"])
        table = read(lung_text(), dictionary_from_json(shown)).table
        assert int(table["status"].sum()) == LUNG_EVENTS


class TestPaperDictionary:
    def table(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "study_id": ["T2", "T1"],
                "sex": ["M", "F"],
                "age_years": [70, 61],
                "type2_diabetes": [True, False],
                "tace_date": ["2020-01-02", "2020-02-03"],
                "ast_iu_l": [40.123456789012, None],
                "mir122_pre_qc": ["pass", None],
                "mir122_ratio": [0.793, 1.2],
                "dss_months": [12.5, 3.25],
                "dss_event": [True, False],
            }
        )

    def test_labels_units_types_and_coding(self):
        dictionary = paper_dictionary(self.table().columns)
        assert dictionary.label("ast_iu_l") == "AST (IU/l)"
        assert dictionary.label("type2_diabetes") == "Type 2 diabetes"
        assert dictionary.label("mir122_ratio") == "miR-122 ratio (post/pre)"
        assert dictionary.columns["dss_event"].role == "event"
        assert dictionary.columns["dss_event"].event_values == ("True",)
        assert dictionary.with_role("time") == ["dss_months"]
        assert dictionary.time_unit == "months" and dictionary.source == "paper"

    def test_our_export_round_trips_exactly_and_needs_no_confirmation(self):
        table = read_cohort_csv(io.StringIO(self.table().to_csv(index=False)))
        buffer = io.StringIO()
        header = export_header_lines(table, exported_at="2026-01-02T03:04:05+00:00")
        write_cohort_csv(table, buffer, header_lines=header)
        cohort = read(buffer.getvalue())
        pd.testing.assert_frame_equal(cohort.table, table)
        assert cohort.dictionary.source == "paper"
        assert cohort.dictionary.label("ast_iu_l") == "AST (IU/l)"

    def test_the_paper_dictionary_agrees_with_the_types_the_live_cohort_has(self):
        table = read_cohort_csv(io.StringIO(self.table().to_csv(index=False)))
        dictionary = paper_dictionary(table.columns)
        for name, info in dictionary.columns.items():
            dtype = table[name].dtype
            if info.type == "boolean":
                assert pd.api.types.is_bool_dtype(dtype), name
            elif info.type == "numeric":
                assert pd.api.types.is_numeric_dtype(dtype), name
            else:
                assert dtype == "string", name
