"""One django-filter FilterSet per model: the filters a user would filter on.

The API's list endpoints use them, and the web pages reuse them for their HTML
lists, so they are plain `django_filters.FilterSet`s (no DRF import) and never
render a select of every patient or aliquot: related objects are filtered by id
or by the code people read on the label (study id, barcode, target).

No filter reaches identifying data (name, hospital number, birth date): a filter
on those would let anyone who may list patients test guesses against them.
`PatientIdentityFilterSet` serves the curators' identity endpoint only.

Dates are ranges named `<name>_after` / `<name>_before` (inclusive).
"""

from __future__ import annotations

import django_filters as filters
from django import forms
from django.db.models import F, Q

from analysis.models import AnalysisPlan, AnalysisRun
from biobank.models import (
    Aliquot,
    Assay,
    Box,
    ClinicalAssessment,
    ExosomeIsolationBatch,
    FollowUp,
    Freezer,
    Patient,
    PatientIdentity,
    QpcrPlate,
    Rack,
    ReverseTranscription,
    SerumDraw,
    StorageEvent,
    Treatment,
    Well,
)

# The path from a well (through its RT product) to the serum draw it came from.
WELL_DRAW = "sample__rna__isolation__aliquot__draw"
RT_DRAW = "rna__isolation__aliquot__draw"


def _patient(field_name: str = "patient__study_id"):
    return filters.CharFilter(field_name=field_name, label="Patient (study id)")


# The range of a database integer: a larger number is refused (400), not sent to the
# database, where it would overflow.
MAX_INTEGER = 2**63 - 1


class IntegerFilter(filters.NumberFilter):
    """A whole number within the database's range."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", -MAX_INTEGER)
        kwargs.setdefault("max_value", MAX_INTEGER)
        super().__init__(*args, **kwargs)


def _id(field_name: str, label: str):
    """A related object by id (a number, never a select of every row)."""
    return IntegerFilter(field_name=field_name, label=label, min_value=0)


def _dates(field_name: str, label: str):
    return filters.DateFromToRangeFilter(field_name=field_name, label=label)


class PatientFilterSet(filters.FilterSet):
    study_id = filters.CharFilter(lookup_expr="icontains", label="Study id contains")
    withdrawn = filters.BooleanFilter(
        field_name="withdrawn_on", lookup_expr="isnull", exclude=True, label="Withdrawn"
    )
    consent_date = _dates("consent_date", "Consent date")
    age_min = IntegerFilter(field_name="age_at_enrolment", lookup_expr="gte", label="Age at least")
    age_max = IntegerFilter(field_name="age_at_enrolment", lookup_expr="lte", label="Age at most")

    class Meta:
        model = Patient
        fields = ["study_id", "sex", "liver_background", "etiology", "type2_diabetes"]


class PatientIdentityFilterSet(filters.FilterSet):
    """Curators only: find the study id behind a hospital number."""

    patient = _patient()
    hospital_number = filters.CharFilter()

    class Meta:
        model = PatientIdentity
        fields = ["patient", "hospital_number"]


class ClinicalAssessmentFilterSet(filters.FilterSet):
    patient = _patient()
    treatment = _id("treatment_id", "Treatment (id)")
    assessed_on = _dates("assessed_on", "Assessed on")

    class Meta:
        model = ClinicalAssessment
        fields = [
            "patient",
            "treatment",
            "bclc_stage",
            "child_pugh_grade",
            "child_pugh_disagrees",
            "ascites",
            "encephalopathy",
        ]


class TreatmentFilterSet(filters.FilterSet):
    patient = _patient()
    performed_on = _dates("performed_on", "TACE date")

    class Meta:
        model = Treatment
        fields = ["patient", "anticancer_agent", "is_initial", "gelatin_sponge_embolisation"]


class SerumDrawFilterSet(filters.FilterSet):
    patient = _patient()
    treatment = _id("treatment_id", "Treatment (id)")
    drawn = _dates("drawn_at__date", "Drawn on")

    class Meta:
        model = SerumDraw
        fields = ["patient", "treatment", "timepoint", "haemolysis", "outside_window", "container"]


class AliquotFilterSet(filters.FilterSet):
    patient = _patient("draw__patient__study_id")
    draw = _id("draw_id", "Serum draw (id)")
    timepoint = filters.ChoiceFilter(
        field_name="draw__timepoint", choices=SerumDraw.Timepoint.choices
    )
    barcode = filters.CharFilter(lookup_expr="icontains", label="Barcode contains")
    box = _id("box_id", "Box (id)")
    box_barcode = filters.CharFilter(field_name="box__barcode", label="Box barcode")
    freezer = _id("box__rack__freezer_id", "Freezer (id)")
    created = _dates("created_at__date", "Created on")
    min_volume_ul = filters.NumberFilter(
        field_name="volume_ul",
        lookup_expr="gte",
        max_digits=8,
        decimal_places=1,
        label="At least (µl)",
    )

    class Meta:
        model = Aliquot
        fields = ["barcode", "draw", "status", "patient", "timepoint", "box"]


class StorageEventFilterSet(filters.FilterSet):
    patient = _patient("aliquot__draw__patient__study_id")
    aliquot = _id("aliquot_id", "Aliquot (id)")
    barcode = filters.CharFilter(field_name="aliquot__barcode", label="Aliquot barcode")
    box = IntegerFilter(method="filter_box", label="Box (id), from or to", min_value=0)
    at = _dates("at__date", "On")

    class Meta:
        model = StorageEvent
        fields = ["aliquot", "kind", "barcode", "patient", "box"]

    def filter_box(self, queryset, name, value):
        return queryset.filter(Q(from_box_id=value) | Q(to_box_id=value))


class FreezerFilterSet(filters.FilterSet):
    class Meta:
        model = Freezer
        fields = ["name", "is_active"]


class RackFilterSet(filters.FilterSet):
    freezer = _id("freezer_id", "Freezer (id)")

    class Meta:
        model = Rack
        fields = ["freezer", "name"]


class BoxFilterSet(filters.FilterSet):
    rack = _id("rack_id", "Rack (id)")
    freezer = _id("rack__freezer_id", "Freezer (id)")
    has_space = filters.BooleanFilter(method="filter_has_space", label="Has a free position")

    class Meta:
        model = Box
        fields = ["barcode", "rack", "freezer", "name"]

    def filter_has_space(self, queryset, name, value):
        """Needs the `n_stored` annotation of biobank.selectors.boxes.boxes_with_occupancy."""
        full = Q(n_stored__gte=F("rows") * F("columns"))
        return queryset.exclude(full) if value else queryset.filter(full)


class ExosomeIsolationBatchFilterSet(filters.FilterSet):
    performed_on = _dates("performed_on", "Performed on")
    aliquot = filters.CharFilter(
        field_name="isolations__aliquot__barcode", distinct=True, label="Aliquot barcode"
    )
    patient = filters.CharFilter(
        field_name="isolations__aliquot__draw__patient__study_id",
        distinct=True,
        label="Patient (study id)",
    )

    class Meta:
        model = ExosomeIsolationBatch
        fields = ["code", "exoquick_lot", "spike_in_lot", "aliquot", "patient"]


class ReverseTranscriptionFilterSet(filters.FilterSet):
    patient = _patient(f"{RT_DRAW}__patient__study_id")
    timepoint = filters.ChoiceFilter(
        field_name=f"{RT_DRAW}__timepoint", choices=SerumDraw.Timepoint.choices
    )
    performed_on = _dates("performed_on", "Performed on")
    assay = IntegerFilter(
        field_name="assays", distinct=True, label="Primed for assay (id)", min_value=0
    )

    class Meta:
        model = ReverseTranscription
        fields = ["code", "kit_lot", "patient", "timepoint"]


class AssayFilterSet(filters.FilterSet):
    class Meta:
        model = Assay
        fields = ["target", "role", "vendor_assay_id"]


class QpcrPlateFilterSet(filters.FilterSet):
    barcode = filters.CharFilter(lookup_expr="icontains", label="Barcode contains")
    run = _dates("run_at__date", "Run on")
    created = _dates("created_at__date", "Created on")
    instrument = filters.CharFilter(lookup_expr="icontains")
    assay = IntegerFilter(field_name="wells__assay", distinct=True, label="Assay (id)", min_value=0)

    class Meta:
        model = QpcrPlate
        fields = ["barcode", "status", "plate_format", "instrument"]


class WellFilterSet(filters.FilterSet):
    plate = _id("plate_id", "Plate (id)")
    plate_barcode = filters.CharFilter(field_name="plate__barcode", label="Plate barcode")
    assay = _id("assay_id", "Assay (id)")
    target = filters.CharFilter(field_name="assay__target", label="Assay target")
    patient = _patient(f"{WELL_DRAW}__patient__study_id")
    timepoint = filters.ChoiceFilter(
        field_name=f"{WELL_DRAW}__timepoint", choices=SerumDraw.Timepoint.choices
    )
    sample = _id("sample_id", "RT product (id)")
    replicate = IntegerFilter(min_value=0, max_value=32767)
    undetermined = filters.BooleanFilter(
        field_name="cq", lookup_expr="isnull", label="Undetermined (no Cq)"
    )
    decided = filters.BooleanFilter(
        field_name="excluded", lookup_expr="isnull", exclude=True, label="Has a curator decision"
    )
    run = _dates("plate__run_at__date", "Plate run on")

    class Meta:
        model = Well
        fields = ["plate", "assay", "kind", "sample", "replicate", "excluded"]


class FollowUpFilterSet(filters.FilterSet):
    patient = _patient()
    contact_date = _dates("contact_date", "Contact date")

    class Meta:
        model = FollowUp
        fields = ["patient", "status", "cause_of_death"]


class AnalysisPlanFilterSet(filters.FilterSet):
    class Meta:
        model = AnalysisPlan
        fields = ["name", "is_active"]


class AnalysisRunFilterSet(filters.FilterSet):
    plan = _id("plan_id", "Plan (id)")
    plan_name = filters.CharFilter(field_name="plan__name", label="Plan name")
    created = _dates("created_at__date", "Created on")
    finished = _dates("finished_at__date", "Finished on")

    class Meta:
        model = AnalysisRun
        fields = ["plan", "status", "trigger", "fingerprint"]
