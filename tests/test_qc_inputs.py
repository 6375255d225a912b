"""The QC's inputs from the database (biobank.selectors.qc_inputs): one row per RT
product with its pre-analytical record, one row per patient with the steps reached,
each in one query, withdrawn patients left out."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from django.utils import timezone

from biobank.models import (
    ClinicalAssessment,
    QpcrPlate,
    ReverseTranscription,
    TemperatureExcursion,
    Well,
)
from biobank.selectors.qc_inputs import draw_status_frame, rt_products_frame, withdrawn_count
from biobank.selectors.wells import wells_frame

from .factories import (
    AliquotFactory,
    AssayFactory,
    ExosomeIsolationBatchFactory,
    ExosomeIsolationFactory,
    FreezerFactory,
    PatientFactory,
    ReverseTranscriptionFactory,
    RnaIsolationFactory,
    SerumDrawFactory,
    TreatmentFactory,
    study_assays,
)

pytestmark = pytest.mark.django_db

COLUMNS = [
    "sample_id", "rt_code", "draw_id", "patient_id", "timepoint", "batch", "aliquot",
    "freeze_thaw_count", "excursions", "excursion_minutes", "excursion_peak_c", "haemolysis",
    "a414",
    "drawn_at", "centrifuged_at", "frozen_at",
]  # fmt: skip


def product_of(draw, *, batch, barcode, freeze_thaws=0, code=None):
    aliquot = AliquotFactory(draw=draw, barcode=barcode, freeze_thaw_count=freeze_thaws)
    isolation = ExosomeIsolationFactory(batch=batch, aliquot=aliquot)
    rna = RnaIsolationFactory(isolation=isolation)
    kwargs = {"code": code} if code else {}
    return ReverseTranscriptionFactory(rna=rna, assays=study_assays(), **kwargs), aliquot


def excursion(*aliquots, day=1, minutes=30, peak=-40):
    record = TemperatureExcursion.objects.create(
        freezer=FreezerFactory(),
        started_at=timezone.make_aware(dt.datetime(2015, 3, day, 2, 0)),
        peak_temperature_c=peak,
    )
    record.affected_aliquots.set(
        aliquots, through_defaults={"minutes": minutes, "peak_temperature_c": peak}
    )
    return record


@pytest.fixture
def chain():
    """P-A: PRE (slight, A414 0.25, thawed twice, two excursions) and POST (no A414,
    times missing) in two batches; P-B: withdrawn, with a product; P-C: a TACE and
    nothing else; P-D: only a non-initial TACE."""
    batch_1 = ExosomeIsolationBatchFactory(code="EXO-1")
    batch_2 = ExosomeIsolationBatchFactory(code="EXO-2")
    treatment = TreatmentFactory(patient=PatientFactory(study_id="P-A"))
    ClinicalAssessment.objects.create(
        patient=treatment.patient, treatment=treatment, assessed_on=dt.date(2010, 1, 8)
    )
    pre = SerumDrawFactory(treatment=treatment, haemolysis="slight", a414=0.25)
    post = SerumDrawFactory(
        treatment=treatment,
        timepoint="POST",
        drawn_at=timezone.make_aware(dt.datetime(2010, 1, 17, 9, 15)),
        centrifuged_at=None,
        frozen_at=None,
        days_after_treatment=7,
    )
    pre_product, pre_aliquot = product_of(
        pre, batch=batch_1, barcode="A-PRE-01", freeze_thaws=2, code="RT-A-PRE"
    )
    post_product, post_aliquot = product_of(post, batch=batch_2, barcode="A-POST-01")
    spare = AliquotFactory(draw=post, barcode="A-POST-02", row=2)  # never isolated
    excursion(pre_aliquot, spare, day=1)
    excursion(pre_aliquot, day=2, minutes=65, peak=-35.5)

    gone = TreatmentFactory(
        patient=PatientFactory(
            study_id="P-B", withdrawn_on=dt.date(2011, 1, 1), withdrawal_reason="asked"
        )
    )
    product_of(SerumDrawFactory(treatment=gone), batch=batch_1, barcode="B-PRE-01")
    TreatmentFactory(patient=PatientFactory(study_id="P-C"))
    TreatmentFactory(patient=PatientFactory(study_id="P-D"), is_initial=False)
    return {
        "pre": pre,
        "post": post,
        "pre_product": pre_product,
        "post_product": post_product,
        "batch_1": batch_1,
        "batch_2": batch_2,
    }


def test_one_row_per_rt_product_of_a_consenting_patient(chain, django_assert_num_queries):
    with django_assert_num_queries(1):
        frame = rt_products_frame()
    assert list(frame.columns) == COLUMNS
    assert frame["sample_id"].tolist() == [chain["pre_product"].pk, chain["post_product"].pk]
    assert str(frame["sample_id"].dtype) == "Int64"
    pre, post = frame.iloc[0], frame.iloc[1]

    assert pre["rt_code"] == "RT-A-PRE" and pre["patient_id"] == "P-A"
    assert pre["draw_id"] == chain["pre"].pk and pre["timepoint"] == "PRE"
    assert pre["batch"] == "EXO-1" and post["batch"] == "EXO-2"
    assert pre["aliquot"] == "A-PRE-01" and post["aliquot"] == "A-POST-01"
    assert pre["freeze_thaw_count"] == 2 and post["freeze_thaw_count"] == 0
    # Two excursions for the PRE tube; the spare POST tube's excursion is not the product's.
    assert pre["excursions"] == 2 and post["excursions"] == 0
    # Their exposure: minutes inside in all, and the warmest peak (NaN with none).
    assert pre["excursion_minutes"] == 95 and post["excursion_minutes"] == 0
    assert pre["excursion_peak_c"] == -35.5 and math.isnan(post["excursion_peak_c"])
    assert frame["excursions"].dtype == int and frame["freeze_thaw_count"].dtype == int
    assert pre["haemolysis"] == "slight" and post["haemolysis"] == "none"
    assert pre["a414"] == 0.25 and math.isnan(post["a414"])

    drawn = chain["pre"].drawn_at
    assert pre["drawn_at"] == pd.Timestamp(drawn)
    assert pre["centrifuged_at"] - pre["drawn_at"] == pd.Timedelta(hours=1)
    assert pre["frozen_at"] - pre["centrifuged_at"] == pd.Timedelta(minutes=30)
    assert pd.isna(post["centrifuged_at"]) and pd.isna(post["frozen_at"])
    for name in ("drawn_at", "centrifuged_at", "frozen_at"):
        assert pd.api.types.is_datetime64_any_dtype(frame[name]), name


def test_sample_id_is_the_wells_frame_sample_id(chain):
    plate = QpcrPlate.objects.create(barcode="QP-1", plate_format=96)
    Well.objects.create(
        plate=plate,
        row=1,
        column=1,
        kind="sample",
        sample=chain["post_product"],
        assay=AssayFactory(),
        replicate=1,
        cq=25.0,
    )
    wells = wells_frame()
    products = rt_products_frame()
    joined = wells.merge(products, on="sample_id", how="inner", suffixes=("", "_rt"))
    assert len(joined) == 1
    assert joined.loc[0, "patient_id"] == joined.loc[0, "patient_id_rt"] == "P-A"
    assert joined.loc[0, "timepoint"] == joined.loc[0, "timepoint_rt"] == "POST"


def test_study_ids_restrict_and_the_query_count_does_not_grow(chain, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert rt_products_frame(study_ids=["P-C"]).empty
    batch = chain["batch_1"]
    for number in range(6):
        treatment = TreatmentFactory(patient=PatientFactory(study_id=f"P-X{number}"))
        _product, aliquot = product_of(
            SerumDrawFactory(treatment=treatment), batch=batch, barcode=f"X-{number}"
        )
        excursion(aliquot, day=3 + number)
    with django_assert_num_queries(1):
        frame = rt_products_frame()
    assert len(frame) == 8 and frame["excursions"].tolist() == [2, 0] + [1] * 6
    with django_assert_num_queries(1):
        some = rt_products_frame(study_ids=["P-A", "P-X3", "P-B"])
    assert some["patient_id"].tolist() == ["P-A", "P-A", "P-X3"]  # P-B withdrew


def test_empty_database_gives_the_columns_with_their_types(db):
    frame = rt_products_frame()
    assert list(frame.columns) == COLUMNS and frame.empty
    assert pd.api.types.is_datetime64_any_dtype(frame["drawn_at"])
    status = draw_status_frame()
    assert list(status.columns) == ["study_id", "baseline_present", "pre_drawn", "post_drawn"]
    assert status.empty and withdrawn_count() == 0


def test_draw_status_per_patient_with_an_initial_tace(chain, django_assert_num_queries):
    with django_assert_num_queries(1):
        status = draw_status_frame()
    assert status.to_dict("records") == [
        {"study_id": "P-A", "baseline_present": True, "pre_drawn": True, "post_drawn": True},
        {"study_id": "P-C", "baseline_present": False, "pre_drawn": False, "post_drawn": False},
    ]
    assert status["pre_drawn"].dtype == bool
    only_pre = TreatmentFactory(patient=PatientFactory(study_id="P-E"))
    SerumDrawFactory(treatment=only_pre)
    with django_assert_num_queries(1):
        some = draw_status_frame(study_ids=["P-E", "P-B"])
    assert some.to_dict("records") == [
        {"study_id": "P-E", "baseline_present": False, "pre_drawn": True, "post_drawn": False}
    ]


def test_withdrawn_count(chain, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert withdrawn_count() == 1
    PatientFactory(study_id="P-F", withdrawn_on=dt.date(2012, 5, 1), withdrawal_reason="moved")
    assert withdrawn_count() == 2


def reference_wells_frame(wells) -> pd.DataFrame:
    """wells_frame as main built it before issue 16: the ORM's rows, one tuple a row."""
    from biobank.selectors.wells import WELL_FIELDS

    rows = wells.order_by("plate_id", "row", "column").values_list(*WELL_FIELDS)
    frame = pd.DataFrame.from_records(list(rows), columns=list(WELL_FIELDS.values()))
    letters = pd.Series(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    frame["position"] = (
        letters[frame["row"].to_numpy(dtype=int) - 1].to_numpy(dtype=object)
        + frame["column"].astype(str)
        if len(frame)
        else pd.Series(dtype=object)
    )
    frame["cq"] = frame["cq"].astype(float)
    frame["sample_id"] = frame["sample_id"].astype("Int64")
    frame["manual_excluded"] = frame["manual_excluded"].astype("boolean")
    frame["manual_reason"] = frame["manual_reason"].replace("", pd.NA)
    return frame


def test_wells_frame_is_the_orm_rows_column_by_column(
    chain, django_assert_num_queries, monkeypatch
):
    """Every kind of value the load converts itself: a withdrawn patient's date, a
    curator's True / False / none with and without a reason, an undetermined Cq, an NTC
    without RT product, over more rows than one chunk."""
    import biobank.selectors.wells as wells_module

    monkeypatch.setattr(wells_module, "CHUNK_ROWS", 3)
    plate = QpcrPlate.objects.create(barcode="QP-9", plate_format=96)
    withdrawn = ReverseTranscription.objects.get(
        rna__isolation__aliquot__draw__patient__study_id="P-B"
    )
    assay, spike = AssayFactory(target="hsa-miR-122-5p"), AssayFactory(target="cel-miR-39-3p")
    decisions = [(None, ""), (True, "bubble"), (False, "restored: fine"), (None, "")]
    products = [chain["pre_product"], chain["post_product"], withdrawn]
    for index, (product, (excluded, reason)) in enumerate(
        zip(products * 2, decisions * 2, strict=False)
    ):
        Well.objects.create(
            plate=plate, row=index // 12 + 1, column=index % 12 + 1, kind="sample",
            sample=product, assay=assay if index % 2 else spike, replicate=index % 3 + 1,
            cq=None if index == 4 else 20.5 + index, excluded=excluded, exclusion_reason=reason,
        )  # fmt: skip
    Well.objects.create(plate=plate, row=8, column=12, kind="ntc", assay=assay, cq=None)

    with django_assert_num_queries(1):
        frame = wells_frame()
    expected = reference_wells_frame(Well.objects.all())
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert frame["withdrawn_on"].dropna().tolist() == [dt.date(2011, 1, 1)] * 2
    for column in frame.select_dtypes(object).columns:
        assert frame[column].map(type).tolist() == expected[column].map(type).tolist(), column
    assert wells_frame(plate_ids=[]).columns.tolist() == expected.columns.tolist()
