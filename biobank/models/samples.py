"""Serum draws and the aliquots cut from them."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from biobank.domain.sprec import serum_sprec

from .patients import Patient, Treatment
from .storage import Box, position_label


class SerumDraw(models.Model):
    """Blood drawn before (PRE) or about 7 days after (POST) a TACE, with the
    pre-analytical times a biobank standard (SPREC) needs."""

    class Timepoint(models.TextChoices):
        PRE = "PRE", "Before TACE"
        POST = "POST", "After TACE"

    class Haemolysis(models.TextChoices):
        NONE = "none", "None"
        SLIGHT = "slight", "Slight"
        MODERATE = "moderate", "Moderate"
        GROSS = "gross", "Gross"

    class Container(models.TextChoices):
        SST = "SST", "Serum separator tube with clot activator"
        CAT = "CAT", "Serum tube without clot activator"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="draws")
    treatment = models.ForeignKey(Treatment, on_delete=models.PROTECT, related_name="draws")
    timepoint = models.CharField(max_length=4, choices=Timepoint.choices)
    drawn_at = models.DateTimeField()
    centrifuged_at = models.DateTimeField(null=True, blank=True)
    frozen_at = models.DateTimeField(null=True, blank=True)
    held_cold = models.BooleanField(default=False, help_text="Kept at 2-10 °C before processing")
    container = models.CharField(max_length=3, choices=Container.choices, default=Container.SST)
    centrifugation_g = models.PositiveIntegerField(null=True, blank=True, default=1500)
    centrifugation_minutes = models.PositiveSmallIntegerField(null=True, blank=True, default=10)
    centrifugation_temperature_c = models.FloatField(null=True, blank=True, default=20)
    storage_temperature_c = models.FloatField(default=-80)
    serum_volume_ul = models.DecimalField(max_digits=8, decimal_places=1, help_text="µl of serum")
    haemolysis = models.CharField(
        max_length=10, choices=Haemolysis.choices, default=Haemolysis.NONE
    )
    # Optional: the visual grade above is recorded for every draw, the absorbance only
    # where a spectrophotometer (NanoDrop) reading was taken. The QC reads both.
    a414 = models.FloatField(
        "A414",
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=(
            "Serum absorbance at 414 nm, the oxyhaemoglobin peak; above 0.2 is read as "
            "haemolysed (Kirschner et al. 2011, PLoS One 6:e24145). Leave empty when not measured."
        ),
    )
    days_after_treatment = models.SmallIntegerField(editable=False, null=True)
    outside_window = models.BooleanField(
        default=False, editable=False, help_text="POST drawn outside the 5-10 day window"
    )
    note = models.CharField(max_length=300, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["patient__study_id", "drawn_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["treatment", "timepoint"], name="one_draw_per_timepoint"
            ),
            models.CheckConstraint(
                condition=Q(centrifuged_at__isnull=True) | Q(centrifuged_at__gte=F("drawn_at")),
                name="draw_centrifuged_after_drawn",
            ),
            models.CheckConstraint(
                condition=Q(frozen_at__isnull=True)
                | Q(centrifuged_at__isnull=True)
                | Q(frozen_at__gte=F("centrifuged_at")),
                name="draw_frozen_after_centrifuged",
            ),
            models.CheckConstraint(
                condition=Q(serum_volume_ul__gte=0), name="draw_volume_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(a414__isnull=True) | Q(a414__gte=0), name="draw_a414_not_negative"
            ),
        ]

    def __str__(self):
        return f"{self.patient.study_id} {self.timepoint} {self.drawn_at:%Y-%m-%d}"

    @property
    def sprec_code(self) -> str:
        return serum_sprec(
            container=self.container,
            drawn_at=self.drawn_at,
            centrifuged_at=self.centrifuged_at,
            frozen_at=self.frozen_at,
            held_cold=self.held_cold,
            centrifugation_g=self.centrifugation_g,
            centrifugation_minutes=self.centrifugation_minutes,
            centrifugation_temperature_c=self.centrifugation_temperature_c,
            storage_temperature_c=self.storage_temperature_c,
        )


class Aliquot(models.Model):
    """A tube of serum. Its volume and place change only through biobank.services.aliquots,
    which write the custody log in the same transaction."""

    class Status(models.TextChoices):
        STORED = "stored", "Stored"
        OUT = "out", "Checked out"
        USED_UP = "used_up", "Used up"
        DISCARDED = "discarded", "Discarded"

    barcode = models.CharField(max_length=64, unique=True)
    draw = models.ForeignKey(SerumDraw, on_delete=models.PROTECT, related_name="aliquots")
    initial_volume_ul = models.DecimalField(max_digits=8, decimal_places=1)
    volume_ul = models.DecimalField(max_digits=8, decimal_places=1, help_text="µl left")
    freeze_thaw_count = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.STORED)
    box = models.ForeignKey(
        Box, on_delete=models.PROTECT, null=True, blank=True, related_name="aliquots"
    )
    row = models.PositiveSmallIntegerField(null=True, blank=True)
    column = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["barcode"]
        constraints = [
            models.CheckConstraint(
                condition=Q(volume_ul__gte=0), name="aliquot_volume_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(volume_ul__lte=F("initial_volume_ul")),
                name="aliquot_volume_within_initial",
            ),
            models.UniqueConstraint(
                fields=["box", "row", "column"], name="one_aliquot_per_position"
            ),
            # A stored tube has a full position; any other tube has none.
            models.CheckConstraint(
                condition=(
                    Q(status="stored", box__isnull=False, row__isnull=False, column__isnull=False)
                    | (
                        ~Q(status="stored")
                        & Q(box__isnull=True, row__isnull=True, column__isnull=True)
                    )
                ),
                name="aliquot_position_iff_stored",
            ),
            models.CheckConstraint(
                condition=Q(row__gte=1) & Q(column__gte=1) | Q(row__isnull=True),
                name="aliquot_position_one_based",
            ),
        ]

    def __str__(self):
        return self.barcode

    @property
    def position(self) -> str:
        return position_label(self.row, self.column)

    @property
    def location(self) -> str:
        """'Freezer / Rack / Box A3', or the status when it is not in a box."""
        if self.box_id is None:
            return self.get_status_display()
        return f"{self.box} {self.position}"

    @property
    def sprec_code(self) -> str:
        return self.draw.sprec_code
