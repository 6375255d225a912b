"""Assays, plates and wells. Import and QC build on these fields."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from biobank.instruments.values import CQ_MAX, CQ_MIN

from .processing import ReverseTranscription
from .storage import position_label


class Assay(models.Model):
    class Role(models.TextChoices):
        TARGET = "target", "Target miRNA"
        SPIKE_IN = "spike_in", "Spike-in reference"

    target = models.CharField(max_length=64, unique=True, help_text="e.g. hsa-miR-122-5p")
    vendor = models.CharField(max_length=64, default="Applied Biosystems TaqMan")
    vendor_assay_id = models.CharField(max_length=32, blank=True)
    role = models.CharField(max_length=10, choices=Role.choices)

    history = HistoricalRecords()

    class Meta:
        ordering = ["role", "target"]

    def __str__(self):
        return self.target


class QpcrPlate(models.Model):
    class Format(models.IntegerChoices):
        WELLS_96 = 96, "96 wells (8 x 12)"
        WELLS_384 = 384, "384 wells (16 x 24)"

    class Status(models.TextChoices):
        LAYOUT = "layout", "Laid out"
        IMPORTED = "imported", "Results imported"

    DIMENSIONS = {96: (8, 12), 384: (16, 24)}

    barcode = models.CharField(max_length=64, unique=True)
    plate_format = models.PositiveSmallIntegerField(choices=Format.choices, default=Format.WELLS_96)
    instrument = models.CharField(max_length=64, default="Roche LightCycler 480 II")
    run_at = models.DateTimeField(null=True, blank=True)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.LAYOUT)
    created_at = models.DateTimeField(auto_now_add=True)
    dye_assays = models.JSONField(
        default=dict,
        blank=True,
        help_text="Which assay each fluor/dye of a multiplex export reads, as confirmed at "
        "the last import: {'FAM': 'hsa-miR-122-5p', 'VIC': 'cel-miR-39-3p'}; a dye mapped "
        "to '' is not read",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "barcode"]
        constraints = [
            models.CheckConstraint(
                condition=Q(plate_format__in=[96, 384]), name="plate_format_known"
            ),
        ]

    def __str__(self):
        return self.barcode

    @property
    def dimensions(self) -> tuple[int, int]:
        return self.DIMENSIONS[self.plate_format]


class Well(models.Model):
    class Kind(models.TextChoices):
        SAMPLE = "sample", "Sample"
        NTC = "ntc", "No-template control"
        CALIBRATOR = "calibrator", "Calibrator"
        INTER_RUN_CALIBRATOR = "irc", "Inter-run calibrator"
        STANDARD = "standard", "Standard (dilution series)"

    # Kinds that hold no RT product: an NTC holds water; a standard holds a dilution of
    # a synthetic template (or of a pool) whose known quantity is what counts.
    WITHOUT_SAMPLE = ("ntc", "standard")

    plate = models.ForeignKey(QpcrPlate, on_delete=models.CASCADE, related_name="wells")
    row = models.PositiveSmallIntegerField()
    column = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SAMPLE)
    sample = models.ForeignKey(
        ReverseTranscription, on_delete=models.PROTECT, null=True, blank=True, related_name="wells"
    )
    assay = models.ForeignKey(Assay, on_delete=models.PROTECT, related_name="wells")
    replicate = models.PositiveSmallIntegerField(default=1)
    cq = models.FloatField(null=True, blank=True, help_text="Empty when undetermined, never 0")
    excluded = models.BooleanField(
        null=True, blank=True, help_text="A curator's decision; empty = none"
    )
    exclusion_reason = models.CharField(max_length=300, blank=True)
    excluded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    excluded_at = models.DateTimeField(null=True, blank=True)
    quantity = models.FloatField(
        null=True,
        blank=True,
        help_text="A standard's known quantity (copies, dilution, ng ...): its point on the "
        "standard curve; empty for every other kind",
    )
    quantity_unit = models.CharField(
        max_length=16, blank=True, help_text="The quantity's unit as stated, e.g. 'copies'"
    )
    imported_from = models.ForeignKey(
        "biobank.PlateImport",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="wells",
        help_text="The export whose Cq this well holds",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["plate_id", "row", "column", "assay_id"]
        constraints = [
            # A multiplex well reads several assays at one position (one dye each).
            models.UniqueConstraint(
                fields=["plate", "row", "column", "assay"], name="one_assay_per_well_position"
            ),
            models.CheckConstraint(
                condition=Q(kind="ntc", sample__isnull=True)
                | Q(kind="standard")
                | (~Q(kind__in=["ntc", "standard"]) & Q(sample__isnull=False)),
                name="well_sample_unless_ntc",
            ),
            models.CheckConstraint(
                condition=Q(quantity__isnull=True) | Q(kind="standard", quantity__gt=0),
                name="well_quantity_of_a_standard",
            ),
            models.CheckConstraint(
                # The one Cq range (biobank.instruments.values), checked at import preview.
                condition=Q(cq__isnull=True) | (Q(cq__gt=CQ_MIN) & Q(cq__lt=CQ_MAX)),
                name="well_cq_plausible",
            ),
            models.CheckConstraint(
                condition=Q(row__gte=1, row__lte=16, column__gte=1, column__lte=24),
                name="well_position_on_a_plate",
            ),
            models.CheckConstraint(
                condition=Q(excluded__isnull=True) | ~Q(exclusion_reason=""),
                name="well_decision_has_reason",
            ),
        ]

    def __str__(self):
        return f"{self.plate.barcode} {self.position}"

    @property
    def position(self) -> str:
        return position_label(self.row, self.column)


class AssayEfficiency(models.Model):
    """The amplification efficiency an assay is quantified with, chosen by a person with
    its evidence (analysis.efficiency: this run's curve, a pooled value over runs, a
    declared value with its source, or the 100 % default that reproduces the paper).
    One per assay; the history keeps every earlier choice."""

    class Method(models.TextChoices):
        DEFAULT = "default", "Default 100 % (the paper's 2^-ΔCq)"
        RUN = "run", "One run's standard curve"
        POOLED = "pooled", "Pooled over runs (inverse-variance weighted)"
        DECLARED = "declared", "Declared, with its source"

    assay = models.OneToOneField(Assay, on_delete=models.CASCADE, related_name="efficiency")
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.DEFAULT)
    value = models.FloatField(help_text="Efficiency as a fraction: 1.0 = 100 %")
    se = models.FloatField(default=0.0, help_text="Its standard error (a fraction)")
    source = models.CharField(max_length=300, help_text="Where the value comes from, in words")
    evidence = models.JSONField(
        default=dict, blank=True, help_text="The curves (plates, slope, R², E, SE) it rests on"
    )
    chosen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    chosen_at = models.DateTimeField()

    history = HistoricalRecords()

    class Meta:
        ordering = ["assay__role", "assay__target"]
        verbose_name_plural = "assay efficiencies"
        constraints = [
            models.CheckConstraint(
                condition=Q(value__gt=0, value__lte=1.5), name="efficiency_plausible"
            ),
            models.CheckConstraint(condition=Q(se__gte=0), name="efficiency_se_not_negative"),
            models.CheckConstraint(
                condition=Q(method__in=["default", "run", "pooled", "declared"]),
                name="efficiency_method_known",
            ),
        ]

    def __str__(self):
        return f"{self.assay.target}: {self.value:.1%} ({self.method})"


def raw_export_path(instance: PlateImport, filename: str) -> str:
    """Content-addressed: the same bytes always land at the same name."""
    return f"raw-exports/{instance.sha256[:2]}/{instance.sha256}"


class PlateImport(models.Model):
    """An instrument export applied to a plate. The raw file is kept byte for byte with
    its SHA-256; the same file cannot be live twice (after a revert it may come again).
    The values it replaced are kept in WellImportChange, so that it can be reverted."""

    plate = models.ForeignKey(QpcrPlate, on_delete=models.PROTECT, related_name="imports")
    raw_file = models.FileField(upload_to=raw_export_path, max_length=200)
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveIntegerField()
    format = models.CharField(max_length=32)
    instrument = models.CharField(max_length=64)
    run = models.CharField(max_length=200, blank=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    imported_at = models.DateTimeField(auto_now_add=True)
    wells_filled = models.PositiveIntegerField(default=0)
    wells_changed = models.PositiveIntegerField(default=0)
    wells_mismatched = models.PositiveIntegerField(
        default=0, help_text="Wells whose sample name in the file disagreed with the layout"
    )
    warnings = models.JSONField(default=list, blank=True)
    dye_assays = models.JSONField(
        default=dict, blank=True, help_text="The dye-to-assay mapping this import was read with"
    )
    replace_reason = models.CharField(
        max_length=300, blank=True, help_text="Why existing Cq values were replaced"
    )
    override_reason = models.CharField(
        max_length=300,
        blank=True,
        help_text="Why a curator confirmed a file whose sample names disagree with the layout",
    )
    reverted_at = models.DateTimeField(null=True, blank=True)
    reverted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revert_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-imported_at"]
        permissions = [
            (
                "override_plateimport",
                "Confirm an export whose sample names mostly disagree with the layout",
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["sha256"],
                condition=Q(reverted_at__isnull=True),
                name="export_live_once",
            ),
            models.CheckConstraint(
                condition=Q(reverted_at__isnull=True) | ~Q(revert_reason=""),
                name="import_revert_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(wells_changed=0) | ~Q(replace_reason=""),
                name="import_replacement_has_reason",
            ),
        ]

    def __str__(self):
        return f"{self.original_name} -> {self.plate.barcode} ({self.imported_at:%Y-%m-%d %H:%M})"

    @property
    def is_reverted(self) -> bool:
        return self.reverted_at is not None


class WellImportChange(models.Model):
    """What one import did to one well, with everything it replaced: reverting the
    import writes the previous values back exactly (Cq, the import it came from, and
    the exclusion decision, which an import that changes the Cq clears)."""

    class Action(models.TextChoices):
        FILL = "fill", "Filled an empty well"
        CHANGE = "change", "Changed an existing value"

    plate_import = models.ForeignKey(
        PlateImport, on_delete=models.CASCADE, related_name="well_changes"
    )
    well = models.ForeignKey(Well, on_delete=models.CASCADE, related_name="import_changes")
    action = models.CharField(max_length=6, choices=Action.choices)
    new_cq = models.FloatField(null=True, blank=True)
    previous_cq = models.FloatField(null=True, blank=True)
    previous_imported_from = models.ForeignKey(
        PlateImport, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    previous_excluded = models.BooleanField(null=True, blank=True)
    previous_exclusion_reason = models.CharField(max_length=300, blank=True)
    previous_excluded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    previous_excluded_at = models.DateTimeField(null=True, blank=True)
    previous_quantity = models.FloatField(null=True, blank=True)
    previous_quantity_unit = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["plate_import_id", "well_id"]
        constraints = [
            models.UniqueConstraint(fields=["plate_import", "well"], name="one_change_per_well"),
        ]

    def __str__(self):
        return f"{self.plate_import_id}: {self.well_id} {self.previous_cq} -> {self.new_cq}"
