"""What the QC flags (analysis.flags, analysis.gate) read besides the wells: the
pre-analytical record of every RT product, and which patients reached which step.

Pure analysis code gets plain DataFrames; this module is the only place that asks the
database, each frame in one query whatever the number of rows (the QC of 10,000
patients must stay cheap). Withdrawn patients are left out here, at the source, as in
biobank.selectors.cohort; the flow diagram only needs how many there were
(`withdrawn_count`).
"""

from __future__ import annotations

import pandas as pd
from django.db.models import (
    Count,
    Exists,
    F,
    FloatField,
    IntegerField,
    Max,
    OuterRef,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from biobank.models import (
    ClinicalAssessment,
    ExcursionExposure,
    Patient,
    ReverseTranscription,
    SerumDraw,
    Treatment,
)

ALIQUOT = "rna__isolation__aliquot"
DRAW = f"{ALIQUOT}__draw"
DATETIME_COLUMNS = ("drawn_at", "centrifuged_at", "frozen_at")


def _excursions_of_aliquot(aggregate=None, output_field=None) -> Coalesce:
    """Over the temperature excursions the product's aliquot went through (its
    ExcursionExposure rows): how many, by default, or `aggregate` of them; a correlated
    subquery (no join fan-out in the outer query), 0 when none."""
    links = ExcursionExposure.objects.filter(aliquot_id=OuterRef(f"{ALIQUOT}_id"))
    aggregate = aggregate if aggregate is not None else Count("pk")
    counted = links.order_by().values("aliquot_id").annotate(n=aggregate).values("n")
    output_field = output_field or IntegerField()
    return Coalesce(
        Subquery(counted, output_field=output_field), Value(0), output_field=output_field
    )


# frame column -> ORM expression, in the frame's column order.
RT_PRODUCT_FIELDS = {
    "sample_id": F("pk"),
    "rt_code": F("code"),
    "draw_id": F(f"{DRAW}_id"),
    "patient_id": F(f"{DRAW}__patient__study_id"),
    "timepoint": F(f"{DRAW}__timepoint"),
    "batch": F("rna__isolation__batch__code"),
    "aliquot": F(f"{ALIQUOT}__barcode"),
    "freeze_thaw_count": F(f"{ALIQUOT}__freeze_thaw_count"),
    "excursions": _excursions_of_aliquot(),
    # The exposure: minutes inside the freezer during them, and the warmest peak.
    "excursion_minutes": _excursions_of_aliquot(Sum("minutes")),
    "excursion_peak_c": Subquery(
        ExcursionExposure.objects.filter(aliquot_id=OuterRef(f"{ALIQUOT}_id"))
        .order_by()
        .values("aliquot_id")
        .annotate(peak=Max("peak_temperature_c"))
        .values("peak"),
        output_field=FloatField(),
    ),
    "haemolysis": F(f"{DRAW}__haemolysis"),
    "a414": F(f"{DRAW}__a414"),
    "drawn_at": F(f"{DRAW}__drawn_at"),
    "centrifuged_at": F(f"{DRAW}__centrifuged_at"),
    "frozen_at": F(f"{DRAW}__frozen_at"),
}


def rt_products_frame(*, study_ids=None, batches=None) -> pd.DataFrame:
    """One row per RT product (the `sample_id` of biobank.selectors.wells.wells_frame)
    of a consenting patient, with what its QC reads: the draw's haemolysis grade and
    A414 and its processing times, the consumed aliquot's freeze-thaw count and the
    temperature excursions it was in (how many, minutes inside during them in all,
    the warmest peak, NaN when none), and the extraction batch (the spike-in's peers).
    `batches` (extraction batch codes) keeps the RT products of those batches: the
    peers a chunk of patients' spike-ins are judged against.

    Times are timezone-aware (UTC) datetime64, NaT when not recorded; `a414` is NaN
    when not measured. One query."""
    products = ReverseTranscription.objects.filter(
        **{f"{DRAW}__patient__in": Patient.objects.active()}
    )
    if study_ids is not None:
        products = products.filter(**{f"{DRAW}__patient__study_id__in": list(study_ids)})
    if batches is not None:
        products = products.filter(rna__isolation__batch__code__in=list(batches))
    rows = products.order_by(f"{DRAW}__patient__study_id", f"{DRAW}__drawn_at", "code").values(
        **{f"_{name}": expression for name, expression in RT_PRODUCT_FIELDS.items()}
    )
    frame = pd.DataFrame.from_records(
        list(rows), columns=[f"_{name}" for name in RT_PRODUCT_FIELDS]
    )
    frame.columns = list(RT_PRODUCT_FIELDS)
    frame["sample_id"] = frame["sample_id"].astype("Int64")
    frame["draw_id"] = frame["draw_id"].astype("Int64")
    frame["freeze_thaw_count"] = frame["freeze_thaw_count"].astype(int)
    frame["excursions"] = frame["excursions"].astype(int)
    frame["excursion_minutes"] = frame["excursion_minutes"].astype(int)
    frame["excursion_peak_c"] = frame["excursion_peak_c"].astype(float)  # None -> NaN
    frame["a414"] = frame["a414"].astype(float)  # None -> NaN
    for name in ("rt_code", "patient_id", "timepoint", "batch", "aliquot", "haemolysis"):
        frame[name] = frame[name].astype(object)
    for name in DATETIME_COLUMNS:
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


DRAW_STATUS_COLUMNS = ["study_id", "baseline_present", "pre_drawn", "post_drawn"]


def _drawn(timepoint: str) -> Exists:
    return Exists(SerumDraw.objects.filter(treatment_id=OuterRef("pk"), timepoint=timepoint))


def draw_status_frame(*, study_ids=None) -> pd.DataFrame:
    """One row per consenting patient with an initial TACE (the patients of
    biobank.selectors.cohort.patients_frame): whether that TACE has its baseline
    assessment and its PRE and POST draws, the steps of the patient-flow diagram.
    One query."""
    treatments = Treatment.objects.filter(is_initial=True, patient__in=Patient.objects.active())
    if study_ids is not None:
        treatments = treatments.filter(patient__study_id__in=list(study_ids))
    rows = treatments.order_by("patient__study_id").values_list(
        "patient__study_id",
        Exists(ClinicalAssessment.objects.filter(treatment_id=OuterRef("pk"))),
        _drawn(SerumDraw.Timepoint.PRE),
        _drawn(SerumDraw.Timepoint.POST),
    )
    frame = pd.DataFrame.from_records(list(rows), columns=DRAW_STATUS_COLUMNS)
    for name in DRAW_STATUS_COLUMNS[1:]:
        frame[name] = frame[name].astype(bool)
    frame["study_id"] = frame["study_id"].astype(object)
    return frame


def withdrawn_count() -> int:
    """Patients who withdrew consent: counted in the flow diagram, never analysed."""
    return Patient.objects.filter(withdrawn_on__isnull=False).count()
