"""Serializers: `...Serializer` renders a record, `...Input` validates what a write
passes to its service (HackSoft style: input shape, then the service keeps the rules).

No serializer but PatientIdentitySerializer carries a name, a hospital number or a
birth date, and that one is served to curators only.

Input serializers check shapes and types only (a number is a number, a date a date,
an id names a row); the rules (volume, positions, windows, ranges) are the services',
so the API refuses exactly what the web forms refuse, with the same field names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cached_property

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.relations import RelatedField

from analysis.models import AnalysisPlan, AnalysisRun
from biobank.domain.sprec import serum_sprec
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
    PlateImport,
    QpcrPlate,
    Rack,
    ReverseTranscription,
    RnaIsolation,
    SerumDraw,
    StorageEvent,
    Treatment,
    Well,
    position_label,
)
from biobank.models.patients import ASSESSMENT_RANGES
from biobank.selectors.plates import WELL_DRAW
from biobank.selectors.samples import SPREC_DRAW_FIELDS
from biobank.uploads import check_upload_size

# ---------------------------------------------------------------- shared fields


class Username(serializers.CharField):
    """A staff user shown by username (read-only); null when there is none (an
    automatic run, an import by a deleted account), and the schema says so."""

    def __init__(self, source: str, **kwargs):
        super().__init__(
            source=f"{source}.username", read_only=True, default=None, allow_null=True, **kwargs
        )


def study_id(source: str = "patient.study_id"):
    return serializers.CharField(source=source, read_only=True)


def volume(**kwargs):
    return serializers.DecimalField(max_digits=8, decimal_places=1, **kwargs)


class ValueRows:
    """Renders `.values()` rows of a large list exactly as `serializer_class` renders
    the model rows, without building a model instance, walking each field's source or
    calling DRF's per-row machinery: per row and field, one dictionary lookup and the
    field's own `to_representation` (so numbers, decimals, dates and choices come out
    as the serializer gives them; tests/api/test_list_rows.py compares the two).

    `keys` names the row key of a field when it is not the field's name (a related
    field's `<name>_id`: the key itself is rendered, as DRF renders a primary key);
    `computed` gives the representation of a field from the whole row.
    The serializer stays the schema (drf-spectacular) and renders everything else."""

    def __init__(
        self,
        serializer_class,
        *,
        keys: dict[str, str] | None = None,
        computed: dict[str, Callable[[dict], object]] | None = None,
    ):
        self.serializer_class = serializer_class
        self.keys = keys or {}
        self.computed = computed or {}

    @cached_property
    def plan(self) -> list[tuple[str, str | None, Callable | None]]:
        """(name, row key, converter) per field, in the serializer's order."""
        plan = []
        for name, field in self.serializer_class().fields.items():
            if field.write_only:
                continue
            if name in self.computed:
                plan.append((name, None, self.computed[name]))
            elif isinstance(field, RelatedField):
                plan.append((name, self.keys.get(name, f"{name}_id"), None))
            else:
                plan.append((name, self.keys.get(name, name), field.to_representation))
        return plan

    def render(self, rows: Iterable[dict]) -> list[dict]:
        plan = self.plan
        rendered = []
        for row in rows:
            item = {}
            for name, key, convert in plan:
                if key is None:
                    item[name] = convert(row)
                    continue
                value = row[key]
                item[name] = value if value is None or convert is None else convert(value)
            rendered.append(item)
        return rendered


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class OptionalReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


# ---------------------------------------------------------------- patients


class PatientSerializer(serializers.ModelSerializer):
    """Pseudonymous for everyone, curators included: identities have their own endpoint."""

    is_withdrawn = serializers.BooleanField(read_only=True)

    class Meta:
        model = Patient
        fields = [
            "id",
            "study_id",
            "sex",
            "age_at_enrolment",
            "liver_background",
            "etiology",
            "type2_diabetes",
            "consent_date",
            "withdrawn_on",
            "withdrawal_reason",
            "is_withdrawn",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class IdentityInput(serializers.Serializer):
    full_name = serializers.CharField(max_length=200)
    hospital_number = serializers.CharField(max_length=64)
    date_of_birth = serializers.DateField()


class PatientInput(serializers.Serializer):
    study_id = serializers.CharField(max_length=32)
    sex = serializers.ChoiceField(Patient.Sex.choices)
    age_at_enrolment = serializers.IntegerField(min_value=0, max_value=32767)
    liver_background = serializers.ChoiceField(Patient.LiverBackground.choices)
    etiology = serializers.ChoiceField(Patient.Etiology.choices)
    type2_diabetes = serializers.BooleanField()
    consent_date = serializers.DateField()
    identity = IdentityInput(
        required=False,
        write_only=True,
        help_text="Stored apart, for curators only; never returned by this endpoint",
    )


class PatientWithdrawInput(serializers.Serializer):
    withdrawn_on = serializers.DateField()
    reason = serializers.CharField(max_length=200)


class PatientIdentitySerializer(serializers.ModelSerializer):
    study_id = study_id()

    class Meta:
        model = PatientIdentity
        fields = ["id", "patient", "study_id", "full_name", "hospital_number", "date_of_birth"]
        read_only_fields = fields


# ---------------------------------------------------------------- treatments, baselines


class TreatmentSerializer(serializers.ModelSerializer):
    study_id = study_id()

    class Meta:
        model = Treatment
        fields = [
            "id",
            "patient",
            "study_id",
            "kind",
            "performed_on",
            "anticancer_agent",
            "mitomycin_c",
            "lipiodol",
            "gelatin_sponge_embolisation",
            "is_initial",
        ]
        read_only_fields = fields


class TreatmentInput(serializers.Serializer):
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all())
    performed_on = serializers.DateField()
    anticancer_agent = serializers.ChoiceField(Treatment.Anthracycline.choices)
    mitomycin_c = serializers.BooleanField(default=True)
    lipiodol = serializers.BooleanField(default=True)
    gelatin_sponge_embolisation = serializers.BooleanField(default=True)
    is_initial = serializers.BooleanField(default=True)


MEASURES = list(ASSESSMENT_RANGES)


class ClinicalAssessmentSerializer(serializers.ModelSerializer):
    study_id = study_id()

    class Meta:
        model = ClinicalAssessment
        fields = [
            "id",
            "patient",
            "study_id",
            "treatment",
            "assessed_on",
            *MEASURES,
            "ascites",
            "encephalopathy",
            "bclc_stage",
            "child_pugh_score_recorded",
            "child_pugh_score",
            "child_pugh_grade",
            "child_pugh_disagrees",
        ]
        read_only_fields = fields


def _measure_field(name: str) -> serializers.Field:
    low, high, unit = ASSESSMENT_RANGES[name]
    help_text = f"{unit}; accepted range {low}-{high}"
    if name == "tumour_number":
        return serializers.IntegerField(
            required=False,
            allow_null=True,
            min_value=-(2**31),
            max_value=2**31 - 1,
            help_text=help_text,
        )
    return serializers.FloatField(required=False, allow_null=True, help_text=help_text)


class ClinicalAssessmentUpdateInput(serializers.Serializer):
    """The values of a baseline; ranges are checked by the service (the model's validators)."""

    treatment = serializers.PrimaryKeyRelatedField(
        queryset=Treatment.objects.all(), required=False, allow_null=True
    )
    assessed_on = serializers.DateField()
    ascites = serializers.ChoiceField(
        ClinicalAssessment.Ascites.choices, required=False, allow_blank=True
    )
    encephalopathy = serializers.ChoiceField(
        ClinicalAssessment.Encephalopathy.choices, required=False, allow_blank=True
    )
    bclc_stage = serializers.ChoiceField(
        ClinicalAssessment.Bclc.choices, required=False, allow_blank=True
    )
    child_pugh_score_recorded = serializers.IntegerField(
        required=False, allow_null=True, min_value=-(2**31), max_value=2**31 - 1
    )

    def get_fields(self):
        fields = super().get_fields()
        for name in MEASURES:
            fields[name] = _measure_field(name)
        return fields


class ClinicalAssessmentInput(ClinicalAssessmentUpdateInput):
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all())
    treatment = serializers.PrimaryKeyRelatedField(
        queryset=Treatment.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="The TACE this is the baseline for",
    )


# ---------------------------------------------------------------- draws and aliquots


class SerumDrawSerializer(serializers.ModelSerializer):
    study_id = study_id()
    sprec_code = serializers.CharField(read_only=True)

    class Meta:
        model = SerumDraw
        fields = [
            "id",
            "patient",
            "study_id",
            "treatment",
            "timepoint",
            "drawn_at",
            "centrifuged_at",
            "frozen_at",
            "held_cold",
            "container",
            "centrifugation_g",
            "centrifugation_minutes",
            "centrifugation_temperature_c",
            "storage_temperature_c",
            "serum_volume_ul",
            "haemolysis",
            "a414",
            "days_after_treatment",
            "outside_window",
            "sprec_code",
            "note",
        ]
        read_only_fields = fields


class SerumDrawInput(serializers.Serializer):
    treatment = serializers.PrimaryKeyRelatedField(queryset=Treatment.objects.all())
    timepoint = serializers.ChoiceField(SerumDraw.Timepoint.choices)
    drawn_at = serializers.DateTimeField()
    serum_volume_ul = volume(help_text="µl of serum")
    centrifuged_at = serializers.DateTimeField(required=False, allow_null=True)
    frozen_at = serializers.DateTimeField(required=False, allow_null=True)
    haemolysis = serializers.ChoiceField(
        SerumDraw.Haemolysis.choices, default=SerumDraw.Haemolysis.NONE
    )
    a414 = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        help_text=SerumDraw._meta.get_field("a414").help_text,
    )
    held_cold = serializers.BooleanField(default=False)
    container = serializers.ChoiceField(SerumDraw.Container.choices, default="SST")
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class SerumDrawUpdateInput(SerumDrawInput):
    """A correction: the timing rules and the window flag are applied again."""

    centrifugation_g = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=2**31 - 1
    )
    centrifugation_minutes = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=32767
    )
    centrifugation_temperature_c = serializers.FloatField(required=False, allow_null=True)
    storage_temperature_c = serializers.FloatField(required=False)


class LocationSerializer(serializers.Serializer):
    freezer = serializers.CharField()
    rack = serializers.CharField()
    box = serializers.CharField()
    box_barcode = serializers.CharField()
    position = serializers.CharField()


class AliquotSerializer(serializers.ModelSerializer):
    """Reads the annotations of biobank.selectors.samples.aliquots_with_place() (study_id, box_barcode,
    box_name, rack_name, freezer_name)."""

    study_id = serializers.CharField(read_only=True)
    timepoint = serializers.CharField(source="draw.timepoint", read_only=True)
    position = serializers.CharField(read_only=True)
    location = serializers.SerializerMethodField(
        help_text="Where the tube is; empty when not stored"
    )
    sprec_code = serializers.CharField(read_only=True)

    class Meta:
        model = Aliquot
        fields = [
            "id",
            "barcode",
            "draw",
            "study_id",
            "timepoint",
            "initial_volume_ul",
            "volume_ul",
            "freeze_thaw_count",
            "status",
            "box",
            "row",
            "column",
            "position",
            "location",
            "sprec_code",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(LocationSerializer(allow_null=True))
    def get_location(self, aliquot: Aliquot):
        if aliquot.box_id is None:
            return None
        return {
            "freezer": aliquot.freezer_name,
            "rack": aliquot.rack_name,
            "box": aliquot.box_name,
            "box_barcode": aliquot.box_barcode,
            "position": aliquot.position,
        }


def _aliquot_location(row: dict) -> dict | None:
    if row["box_id"] is None:
        return None
    return {
        "freezer": row["box__rack__freezer__name"],
        "rack": row["box__rack__name"],
        "box": row["box__name"],
        "box_barcode": row["box__barcode"],
        "position": position_label(row["row"], row["column"]),
    }


def _aliquot_sprec(row: dict) -> str:
    return serum_sprec(**{field: row[f"draw__{field}"] for field in SPREC_DRAW_FIELDS})


# The aliquot list: rows of biobank.selectors.samples.aliquot_rows(), as AliquotSerializer.
ALIQUOT_ROWS = ValueRows(
    AliquotSerializer,
    keys={"study_id": "draw__patient__study_id", "timepoint": "draw__timepoint"},
    computed={
        "position": lambda row: position_label(row["row"], row["column"]),
        "location": _aliquot_location,
        "sprec_code": _aliquot_sprec,
    },
)


class PositionInput(serializers.Serializer):
    box = serializers.PrimaryKeyRelatedField(queryset=Box.objects.all())
    row = serializers.IntegerField(min_value=1, max_value=26)
    column = serializers.IntegerField(min_value=1, max_value=26)


class AliquotsInput(serializers.Serializer):
    """Cut one aliquot per position from a draw; barcodes scanned, or generated."""

    draw = serializers.PrimaryKeyRelatedField(queryset=SerumDraw.objects.all())
    volume_ul = volume(help_text="µl in each aliquot")
    positions = PositionInput(many=True, max_length=676)
    barcodes = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=676
    )


class PlaceInput(PositionInput):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class MoveInput(PositionInput):
    reason = serializers.CharField(max_length=300)


class ConsumeInput(serializers.Serializer):
    volume_ul = volume(help_text="µl taken")
    reason = serializers.CharField(max_length=300)


class StorageEventSerializer(serializers.ModelSerializer):
    barcode = serializers.CharField(source="aliquot.barcode", read_only=True)
    user = Username("user")
    from_position = serializers.SerializerMethodField()
    to_position = serializers.SerializerMethodField()

    class Meta:
        model = StorageEvent
        fields = [
            "id",
            "aliquot",
            "barcode",
            "kind",
            "at",
            "user",
            "from_box",
            "from_row",
            "from_column",
            "from_position",
            "to_box",
            "to_row",
            "to_column",
            "to_position",
            "volume_change_ul",
            "reason",
            "voids",
            "previous_hash",
            "hash",
        ]
        read_only_fields = fields

    def get_from_position(self, event) -> str:
        return position_label(event.from_row, event.from_column)

    def get_to_position(self, event) -> str:
        return position_label(event.to_row, event.to_column)


# ---------------------------------------------------------------- storage


class FreezerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Freezer
        fields = ["id", "name", "location", "set_point_c", "is_active"]
        read_only_fields = fields


class RackSerializer(serializers.ModelSerializer):
    freezer_name = serializers.CharField(source="freezer.name", read_only=True)

    class Meta:
        model = Rack
        fields = ["id", "freezer", "freezer_name", "name"]
        read_only_fields = fields


class BoxSerializer(serializers.ModelSerializer):
    rack_name = serializers.CharField(source="rack.name", read_only=True)
    freezer = serializers.IntegerField(source="rack.freezer_id", read_only=True)
    freezer_name = serializers.CharField(source="rack.freezer.name", read_only=True)
    capacity = serializers.IntegerField(read_only=True)
    n_stored = serializers.IntegerField(read_only=True, help_text="Tubes stored in the box")
    free = serializers.SerializerMethodField(help_text="Free positions")

    class Meta:
        model = Box
        fields = [
            "id",
            "barcode",
            "name",
            "rack",
            "rack_name",
            "freezer",
            "freezer_name",
            "rows",
            "columns",
            "capacity",
            "n_stored",
            "free",
        ]
        read_only_fields = fields

    def get_free(self, box) -> int:
        return box.capacity - box.n_stored


class OccupantSerializer(serializers.Serializer):
    position = serializers.CharField()
    row = serializers.IntegerField()
    column = serializers.IntegerField()
    aliquot = serializers.IntegerField()
    barcode = serializers.CharField()


class BoxDetailSerializer(BoxSerializer):
    occupied = serializers.SerializerMethodField(help_text="Every taken position, row by row")

    class Meta(BoxSerializer.Meta):
        fields = [*BoxSerializer.Meta.fields, "occupied"]
        read_only_fields = fields

    @extend_schema_field(OccupantSerializer(many=True))
    def get_occupied(self, box):
        return [
            {
                "position": position_label(row, column),
                "row": row,
                "column": column,
                "aliquot": pk,
                "barcode": barcode,
            }
            for row, column, pk, barcode in box.aliquots.order_by("row", "column").values_list(
                "row", "column", "pk", "barcode"
            )
        ]


class BoxInput(serializers.Serializer):
    rack = serializers.PrimaryKeyRelatedField(queryset=Rack.objects.all())
    name = serializers.CharField(max_length=64)
    barcode = serializers.CharField(max_length=64)
    rows = serializers.IntegerField(default=9, min_value=0, max_value=32767)
    columns = serializers.IntegerField(default=9, min_value=0, max_value=32767)


# ---------------------------------------------------------------- processing


class IsolationSerializer(serializers.Serializer):
    aliquot = serializers.IntegerField(source="aliquot_id")
    barcode = serializers.CharField(source="aliquot.barcode")
    serum_volume_ul = volume()


class ExosomeIsolationBatchSerializer(serializers.ModelSerializer):
    operator = Username("operator")
    isolations = IsolationSerializer(many=True, read_only=True)

    class Meta:
        model = ExosomeIsolationBatch
        fields = [
            "id",
            "code",
            "performed_on",
            "operator",
            "exoquick_lot",
            "serum_volume_ul",
            "exoquick_volume_ul",
            "incubation_temperature_c",
            "incubation_hours",
            "centrifugation_g",
            "centrifugation_minutes",
            "lysis_buffer_ul",
            "spike_in_name",
            "spike_in_volume_ul",
            "spike_in_lot",
            "note",
            "isolations",
        ]
        read_only_fields = fields


class ExosomeIsolationBatchInput(serializers.Serializer):
    code = serializers.CharField(max_length=64)
    performed_on = serializers.DateField()
    exoquick_lot = serializers.CharField(max_length=64)
    spike_in_lot = serializers.CharField(max_length=64)
    aliquots = serializers.PrimaryKeyRelatedField(
        queryset=Aliquot.objects.all(), many=True, help_text="The aliquots serum is taken from"
    )
    serum_volume_ul = serializers.DecimalField(
        max_digits=6, decimal_places=1, required=False, help_text="µl from each aliquot (250)"
    )
    exoquick_volume_ul = serializers.DecimalField(max_digits=6, decimal_places=1, required=False)
    incubation_temperature_c = serializers.FloatField(required=False)
    incubation_hours = serializers.FloatField(required=False)
    centrifugation_g = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    centrifugation_minutes = serializers.IntegerField(required=False, min_value=0, max_value=32767)
    lysis_buffer_ul = serializers.DecimalField(max_digits=6, decimal_places=1, required=False)
    spike_in_name = serializers.CharField(max_length=32, required=False)
    spike_in_volume_ul = serializers.DecimalField(max_digits=6, decimal_places=1, required=False)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class BenchSampleInput(serializers.Serializer):
    aliquot = serializers.CharField(max_length=64, help_text="The tube's barcode, as scanned")
    deviation = serializers.CharField(
        max_length=300, required=False, allow_blank=True, default="", help_text="For this sample"
    )


class RnaIsolationBatchInput(serializers.Serializer):
    samples = BenchSampleInput(many=True, allow_empty=False)
    performed_on = serializers.DateField()
    kit = serializers.CharField(max_length=64, required=False)
    kit_lot = serializers.CharField(max_length=64)
    elution_volume_ul = serializers.DecimalField(max_digits=6, decimal_places=1, required=False)


class RnaIsolationSerializer(serializers.ModelSerializer):
    aliquot = serializers.IntegerField(source="isolation.aliquot_id", read_only=True)
    barcode = serializers.CharField(source="isolation.aliquot.barcode", read_only=True)
    batch = serializers.CharField(source="isolation.batch.code", read_only=True)
    operator = Username("operator")

    class Meta:
        model = RnaIsolation
        fields = [
            "id",
            "isolation",
            "aliquot",
            "barcode",
            "batch",
            "kit",
            "kit_lot",
            "performed_on",
            "elution_volume_ul",
            "operator",
            "deviation",
        ]
        read_only_fields = fields


class ReverseTranscriptionBatchInput(serializers.Serializer):
    samples = BenchSampleInput(many=True, allow_empty=False)
    performed_on = serializers.DateField()
    kit = serializers.CharField(max_length=64, required=False)
    kit_lot = serializers.CharField(max_length=64)
    assays = serializers.PrimaryKeyRelatedField(
        queryset=Assay.objects.all(),
        many=True,
        required=False,
        help_text="The primer pool; every assay of the study when left out",
    )
    input_volume_ul = serializers.DecimalField(max_digits=5, decimal_places=1, required=False)


class ReverseTranscriptionSerializer(serializers.ModelSerializer):
    aliquot = serializers.IntegerField(source="rna.isolation.aliquot_id", read_only=True)
    study_id = study_id("rna.isolation.aliquot.draw.patient.study_id")
    timepoint = serializers.CharField(source="rna.isolation.aliquot.draw.timepoint", read_only=True)
    assays = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = ReverseTranscription
        fields = [
            "id",
            "code",
            "rna",
            "aliquot",
            "study_id",
            "timepoint",
            "kit",
            "kit_lot",
            "performed_on",
            "assays",
        ]
        read_only_fields = fields


# ---------------------------------------------------------------- qPCR


class AssaySerializer(serializers.ModelSerializer):
    class Meta:
        model = Assay
        fields = ["id", "target", "vendor", "vendor_assay_id", "role"]
        read_only_fields = fields


class QpcrPlateSerializer(serializers.ModelSerializer):
    operator = Username("operator")
    n_wells = serializers.IntegerField(read_only=True)
    n_filled = serializers.IntegerField(read_only=True, help_text="Wells with a Cq")
    n_imports = serializers.IntegerField(read_only=True)
    last_import_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = QpcrPlate
        fields = [
            "id",
            "barcode",
            "plate_format",
            "instrument",
            "run_at",
            "operator",
            "status",
            "created_at",
            "n_wells",
            "n_filled",
            "n_imports",
            "last_import_at",
        ]
        read_only_fields = fields


class QpcrPlateInput(serializers.Serializer):
    barcode = serializers.CharField(max_length=64)
    plate_format = serializers.ChoiceField(QpcrPlate.Format.choices, default=96)
    instrument = serializers.CharField(max_length=64, default="Roche LightCycler 480 II")
    run_at = serializers.DateTimeField(required=False, allow_null=True)


class PlateLayoutInput(serializers.Serializer):
    samples = serializers.PrimaryKeyRelatedField(
        queryset=ReverseTranscription.objects.all(), many=True, help_text="RT products"
    )
    assays = serializers.PrimaryKeyRelatedField(queryset=Assay.objects.all(), many=True)
    replicates = serializers.IntegerField(default=3, min_value=-(2**31), max_value=2**31 - 1)
    ntc_replicates = serializers.IntegerField(default=1, min_value=0, max_value=384)
    calibrator = serializers.PrimaryKeyRelatedField(
        queryset=ReverseTranscription.objects.all(), required=False, allow_null=True
    )


class PlateImportInput(serializers.Serializer):
    file = serializers.FileField(help_text="The instrument's export, as it came off the machine")
    format = serializers.CharField(max_length=32, default="auto")
    run = serializers.CharField(max_length=200, required=False, allow_null=True, default=None)
    replace = serializers.BooleanField(
        default=False,
        help_text="Needed (with `reason`) when the file changes Cq values already on the plate",
    )
    reason = serializers.CharField(
        max_length=300, required=False, allow_blank=True, default="", help_text="Why replace"
    )
    override_reason = serializers.CharField(
        max_length=300,
        required=False,
        allow_blank=True,
        default="",
        help_text="A curator's reason to confirm a file whose sample names disagree with the "
        "layout in more than half of the wells it names (biobank.override_plateimport)",
    )
    dye_assays = serializers.JSONField(
        binary=True,
        required=False,
        allow_null=True,
        default=None,
        help_text='Multiplex files: JSON {"FAM": "hsa-miR-122-5p", "VIC": ""} mapping each '
        "dye to an assay target ('' = not read); omitted: the mapping remembered on the plate",
    )

    def validate_file(self, value):
        # The body was capped before it was read (biobank.uploads); the file's own size here.
        if refusal := check_upload_size(value.size):
            raise serializers.ValidationError(refusal)
        return value

    def validate_dye_assays(self, value):
        if value is None:
            return None
        if not isinstance(value, dict) or not all(
            isinstance(dye, str) and isinstance(target, str) for dye, target in value.items()
        ):
            raise serializers.ValidationError(
                "Map each dye to an assay target, or '' for not read: "
                '{"FAM": "hsa-miR-122-5p", "VIC": ""}'
            )
        return value


class PlateImportRevertInput(serializers.Serializer):
    plate_import = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="The id of the plate's import to revert"
    )
    reason = serializers.CharField(max_length=300)


class WellChangeSerializer(serializers.Serializer):
    position = serializers.CharField()
    well_id = serializers.IntegerField()
    expected_sample = serializers.CharField()
    file_sample = serializers.CharField()
    assay = serializers.CharField()
    old_cq = serializers.FloatField(allow_null=True)
    new_cq = serializers.FloatField(allow_null=True)
    action = serializers.ChoiceField(["fill", "change", "same", "unresolved", "missing"])
    note = serializers.CharField()
    name_disagrees = serializers.BooleanField()
    study_id = serializers.CharField(help_text="The patient's study id; '' for controls")
    dye = serializers.CharField()
    decided = serializers.BooleanField(
        help_text="The well has an exclusion decision, which writing its Cq clears"
    )


class StrayReadingSerializer(serializers.Serializer):
    position = serializers.CharField()
    sample_name = serializers.CharField()
    target = serializers.CharField()
    dye = serializers.CharField()
    cq = serializers.FloatField(allow_null=True)
    note = serializers.CharField()


class PlateImportPreviewSerializer(serializers.Serializer):
    plate = serializers.CharField()
    sha256 = serializers.CharField()
    filename = serializers.CharField()
    format = serializers.CharField(allow_null=True)
    instrument = serializers.CharField(allow_null=True)
    run = serializers.CharField()
    fills = serializers.IntegerField()
    changes = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    unresolved = serializers.IntegerField()
    missing = serializers.IntegerField()
    mismatched = serializers.IntegerField(help_text="Wells whose sample name disagrees")
    named_wells = serializers.IntegerField(help_text="Wells where the file names a sample")
    mismatch_threshold = serializers.FloatField(
        help_text="More than this share of named wells disagreeing needs a curator"
    )
    mostly_mismatched = serializers.BooleanField()
    needs_replace = serializers.BooleanField()
    can_confirm = serializers.BooleanField()
    wells = WellChangeSerializer(many=True)
    stray_readings = StrayReadingSerializer(many=True)
    unknown_positions = serializers.ListField(child=serializers.CharField())
    missing_positions = serializers.ListField(child=serializers.CharField())
    name_mismatches = serializers.ListField(child=serializers.CharField())
    dyes = serializers.ListField(
        child=serializers.CharField(), help_text="Dyes that need an assay (multiplex)"
    )
    dye_assays = serializers.DictField(child=serializers.CharField(allow_blank=True))
    dye_choices = serializers.ListField(child=serializers.CharField())
    patients = serializers.ListField(child=serializers.CharField())
    changed_patients = serializers.ListField(child=serializers.CharField())
    analyses = serializers.ListField(child=serializers.CharField())
    errors = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())
    duplicate_of = serializers.IntegerField(allow_null=True)


class PlateImportSerializer(serializers.ModelSerializer):
    imported_by = Username("imported_by")
    reverted_by = Username("reverted_by")
    is_reverted = serializers.BooleanField(read_only=True)

    class Meta:
        model = PlateImport
        fields = [
            "id",
            "plate",
            "original_name",
            "sha256",
            "size_bytes",
            "format",
            "instrument",
            "run",
            "imported_by",
            "imported_at",
            "wells_filled",
            "wells_changed",
            "wells_mismatched",
            "warnings",
            "dye_assays",
            "replace_reason",
            "override_reason",
            "is_reverted",
            "reverted_at",
            "reverted_by",
            "revert_reason",
        ]
        read_only_fields = fields


class WellSerializer(serializers.ModelSerializer):
    """Reads the annotations of biobank.selectors.plates.wells_listed()."""

    plate_barcode = serializers.CharField(read_only=True)
    position = serializers.CharField(read_only=True)
    sample_code = serializers.CharField(read_only=True, allow_null=True)
    study_id = serializers.CharField(read_only=True, allow_null=True)
    timepoint = serializers.CharField(read_only=True, allow_null=True)
    target = serializers.CharField(read_only=True)
    excluded_by = serializers.CharField(
        source="excluded_by_username", read_only=True, allow_null=True
    )

    class Meta:
        model = Well
        fields = [
            "id",
            "plate",
            "plate_barcode",
            "row",
            "column",
            "position",
            "kind",
            "sample",
            "sample_code",
            "study_id",
            "timepoint",
            "assay",
            "target",
            "replicate",
            "cq",
            "excluded",
            "exclusion_reason",
            "excluded_by",
            "excluded_at",
            "imported_from",
        ]
        read_only_fields = fields


# The well list: rows of biobank.selectors.plates.well_rows(), as WellSerializer.
WELL_ROWS = ValueRows(
    WellSerializer,
    keys={
        "plate_barcode": "plate__barcode",
        "sample_code": "sample__code",
        "study_id": f"{WELL_DRAW}__patient__study_id",
        "timepoint": f"{WELL_DRAW}__timepoint",
        "target": "assay__target",
        "excluded_by": "excluded_by__username",
    },
    computed={"position": lambda row: position_label(row["row"], row["column"])},
)


# ---------------------------------------------------------------- follow-up


class FollowUpSerializer(serializers.ModelSerializer):
    study_id = study_id()
    recorded_by = Username("recorded_by")

    class Meta:
        model = FollowUp
        fields = [
            "id",
            "patient",
            "study_id",
            "contact_date",
            "status",
            "cause_of_death",
            "recorded_by",
            "recorded_at",
        ]
        read_only_fields = fields


class FollowUpUpdateInput(serializers.Serializer):
    contact_date = serializers.DateField()
    status = serializers.ChoiceField(FollowUp.Status.choices)
    cause_of_death = serializers.ChoiceField(
        FollowUp.Cause.choices, required=False, allow_blank=True, default=""
    )


class FollowUpInput(FollowUpUpdateInput):
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all())


# ---------------------------------------------------------------- analysis


class AnalysisPlanSerializer(serializers.ModelSerializer):
    class Meta:
        model = AnalysisPlan
        fields = ["id", "name", "title", "spec", "is_active", "created_at", "updated_at"]
        read_only_fields = fields


class AnalysisRunSerializer(serializers.ModelSerializer):
    plan_name = serializers.CharField(source="plan.name", read_only=True)
    requested_by = Username("requested_by")
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = AnalysisRun
        fields = [
            "id",
            "plan",
            "plan_name",
            "dataset",
            "status",
            "trigger",
            "requested_by",
            "fingerprint",
            "n_patients",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "previous",
            "same_as",
            "error",
        ]
        read_only_fields = fields


class AnalysisRunDetailSerializer(AnalysisRunSerializer):
    """With the results: `results` per analysis, `rows` flat, `figures` name -> SVG,
    `qc` the QC gate (policy, patient flow, what was left out and why, sensitivity
    analyses; docs/qc.md). An unchanged run has none of its own: read the run named by
    `same_as`."""

    class Meta(AnalysisRunSerializer.Meta):
        fields = [
            *AnalysisRunSerializer.Meta.fields,
            "spec",
            "parameters",
            "versions",
            "results",
            "rows",
            "figures",
            "diff",
            "qc",
        ]
        read_only_fields = fields
