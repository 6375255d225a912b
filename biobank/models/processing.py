"""From serum to cDNA: exosome isolation, RNA isolation, reverse transcription."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from biobank.domain.sprec import rna_derivative_sprec

from .samples import Aliquot


class ExosomeIsolationBatch(models.Model):
    """One ExoQuick run. The defaults are the paper's protocol: 250 µl serum,
    63 µl ExoQuick, 4 °C overnight, 1,500 x g 30 min, 300 µl lysis buffer, 5 µl
    cel-miR-39 spike-in."""

    code = models.CharField(max_length=64, unique=True)
    performed_on = models.DateField()
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    exoquick_lot = models.CharField(max_length=64)
    serum_volume_ul = models.DecimalField(max_digits=6, decimal_places=1, default=250)
    exoquick_volume_ul = models.DecimalField(max_digits=6, decimal_places=1, default=63)
    incubation_temperature_c = models.FloatField(default=4)
    incubation_hours = models.FloatField(default=16, help_text="overnight")
    centrifugation_g = models.PositiveIntegerField(default=1500)
    centrifugation_minutes = models.PositiveSmallIntegerField(default=30)
    lysis_buffer_ul = models.DecimalField(max_digits=6, decimal_places=1, default=300)
    spike_in_name = models.CharField(max_length=32, default="cel-miR-39-3p")
    spike_in_volume_ul = models.DecimalField(max_digits=6, decimal_places=1, default=5)
    spike_in_lot = models.CharField(max_length=64)
    note = models.CharField(max_length=300, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-performed_on", "code"]
        verbose_name_plural = "exosome isolation batches"

    def __str__(self):
        return self.code


class ExosomeIsolation(models.Model):
    """One aliquot's serum taken into a batch; the volume was consumed from the aliquot
    in the same transaction (biobank.services.processing)."""

    batch = models.ForeignKey(
        ExosomeIsolationBatch, on_delete=models.PROTECT, related_name="isolations"
    )
    aliquot = models.ForeignKey(Aliquot, on_delete=models.PROTECT, related_name="isolations")
    serum_volume_ul = models.DecimalField(max_digits=6, decimal_places=1)

    history = HistoricalRecords()

    class Meta:
        ordering = ["batch__code", "aliquot__barcode"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "aliquot"], name="aliquot_once_per_batch"),
            models.CheckConstraint(
                condition=Q(serum_volume_ul__gt=0), name="isolation_volume_positive"
            ),
        ]

    def __str__(self):
        return f"{self.batch.code}: {self.aliquot.barcode}"


class RnaIsolation(models.Model):
    isolation = models.OneToOneField(ExosomeIsolation, on_delete=models.PROTECT, related_name="rna")
    kit = models.CharField(max_length=64, default="mirVana miRNA Isolation Kit")
    kit_lot = models.CharField(max_length=64)
    performed_on = models.DateField()
    elution_volume_ul = models.DecimalField(max_digits=6, decimal_places=1, default=100)
    storage_temperature_c = models.FloatField(default=-80)
    freeze_thaw_count = models.PositiveSmallIntegerField(default=0)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    deviation = models.CharField(
        max_length=300, blank=True, help_text="What differed from the protocol for this sample"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-performed_on", "id"]

    def __str__(self):
        return f"RNA of {self.isolation}"

    @property
    def sprec_code(self) -> str:
        return rna_derivative_sprec(
            storage_temperature_c=self.storage_temperature_c,
            freeze_thaw_cycles=self.freeze_thaw_count,
        )


class ReverseTranscription(models.Model):
    """A cDNA product: the 'sample' a qPCR well holds. TaqMan miRNA RT uses
    assay-specific primers, so the assays primed are recorded."""

    code = models.CharField(max_length=64, unique=True)
    rna = models.ForeignKey(
        RnaIsolation, on_delete=models.PROTECT, related_name="reverse_transcriptions"
    )
    kit = models.CharField(max_length=64, default="TaqMan MicroRNA Reverse Transcription Kit")
    kit_lot = models.CharField(max_length=64)
    performed_on = models.DateField()
    assays = models.ManyToManyField("biobank.Assay", related_name="reverse_transcriptions")
    input_volume_ul = models.DecimalField(
        max_digits=5, decimal_places=1, default=5, help_text="RNA put into the RT reaction"
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    deviation = models.CharField(
        max_length=300, blank=True, help_text="What differed from the protocol for this sample"
    )

    history = HistoricalRecords(m2m_fields=[])

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return self.code
