"""Freezer > Rack > Box > position, and the custody log."""

from __future__ import annotations

import string

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords


class Freezer(models.Model):
    name = models.CharField(max_length=64, unique=True)
    location = models.CharField(max_length=200, blank=True)
    set_point_c = models.FloatField(default=-80.0, help_text="°C")
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.set_point_c:g} °C)"


class Rack(models.Model):
    freezer = models.ForeignKey(Freezer, on_delete=models.PROTECT, related_name="racks")
    name = models.CharField(max_length=64)

    history = HistoricalRecords()

    class Meta:
        ordering = ["freezer__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["freezer", "name"], name="rack_name_per_freezer")
        ]

    def __str__(self):
        return f"{self.freezer.name} / {self.name}"


class Box(models.Model):
    """A cryobox of rows x columns; positions are (row, column), 1-based, shown as 'A1'."""

    rack = models.ForeignKey(Rack, on_delete=models.PROTECT, related_name="boxes")
    name = models.CharField(max_length=64)
    barcode = models.CharField(max_length=64, unique=True)
    rows = models.PositiveSmallIntegerField(default=9)
    columns = models.PositiveSmallIntegerField(default=9)

    history = HistoricalRecords()

    class Meta:
        ordering = ["rack__freezer__name", "rack__name", "name"]
        verbose_name_plural = "boxes"
        constraints = [
            models.UniqueConstraint(fields=["rack", "name"], name="box_name_per_rack"),
            models.CheckConstraint(
                condition=Q(rows__gte=1, rows__lte=26, columns__gte=1, columns__lte=26),
                name="box_dimensions",
            ),
        ]

    def __str__(self):
        return f"{self.rack} / {self.name}"

    @property
    def capacity(self) -> int:
        return self.rows * self.columns

    def contains(self, row: int, column: int) -> bool:
        return 1 <= row <= self.rows and 1 <= column <= self.columns


def position_label(row: int | None, column: int | None) -> str:
    """'A1' for row 1 column 1; '' for no position."""
    if row is None or column is None:
        return ""
    return f"{string.ascii_uppercase[row - 1]}{column}"


class CustodyLogIsAppendOnly(RuntimeError):
    """An attempt to edit or delete a custody event, or to write one outside the chain."""


class StorageEventQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        if any(not obj.hash for obj in objs):
            raise CustodyLogIsAppendOnly(
                "Custody events are written through biobank.services.custody, which chains them"
            )
        return super().bulk_create(objs, *args, **kwargs)


class StorageEvent(models.Model):
    """One line of an aliquot's custody log, written only by the services.

    The services write it in the same transaction as the change it records, so
    bulk operations are logged too (model-save history would miss them).
    Append-only: a wrong line is corrected by a VOID event naming it, never edited;
    `hash` chains each tube's events (biobank/domain/custody.py) so that an edit made
    behind the application's back is found by `manage.py verify_custody`.
    """

    class Kind(models.TextChoices):
        CHECK_IN = "check_in", "Check-in"
        CHECK_OUT = "check_out", "Check-out"
        MOVE = "move", "Move"
        THAW = "thaw", "Thaw"
        CONSUME = "consume", "Consumed"
        DISCARD = "discard", "Discard"
        EXCURSION = "excursion", "Temperature excursion"
        VOID = "void", "Void"

    aliquot = models.ForeignKey("biobank.Aliquot", on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    at = models.DateTimeField(db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    from_box = models.ForeignKey(
        Box, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    from_row = models.PositiveSmallIntegerField(null=True, blank=True)
    from_column = models.PositiveSmallIntegerField(null=True, blank=True)
    to_box = models.ForeignKey(
        Box, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_row = models.PositiveSmallIntegerField(null=True, blank=True)
    to_column = models.PositiveSmallIntegerField(null=True, blank=True)
    volume_change_ul = models.DecimalField(max_digits=8, decimal_places=1, default=0)
    reason = models.CharField(max_length=300, blank=True)
    voids = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="voided_by",
        help_text="The event this void event corrects (one void per event)",
    )
    previous_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = StorageEventQuerySet.as_manager()

    class Meta:
        ordering = ["aliquot_id", "at", "id"]
        indexes = [models.Index(fields=["aliquot", "at", "id"], name="storage_event_chain_order")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="void") & Q(voids__isnull=False) & ~Q(reason=""))
                | (~Q(kind="void") & Q(voids__isnull=True)),
                name="void_names_event_and_reason",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.aliquot_id} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise CustodyLogIsAppendOnly(
                f"Custody event {self.pk} cannot be changed; record a void event instead"
            )
        if not self.hash:
            raise CustodyLogIsAppendOnly(
                "Custody events are written through biobank.services.custody, which chains them"
            )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise CustodyLogIsAppendOnly(
            f"Custody event {self.pk} cannot be deleted; record a void event instead"
        )

    @property
    def from_label(self) -> str:
        return (
            f"{self.from_box.barcode} {position_label(self.from_row, self.from_column)}"
            if self.from_box_id
            else ""
        )

    @property
    def to_label(self) -> str:
        return (
            f"{self.to_box.barcode} {position_label(self.to_row, self.to_column)}"
            if self.to_box_id
            else ""
        )


class PositionReservation(models.Model):
    """A position kept for a tube that left it, until the tube comes back.

    A tube checked out from a retrieval pick list keeps its place: no other tube may be
    put there (every placement asks biobank.services.reservations), and its check-in
    suggests it and releases it. Discarding or using up the tube releases it too.
    """

    box = models.ForeignKey(Box, on_delete=models.PROTECT, related_name="reservations")
    row = models.PositiveSmallIntegerField()
    column = models.PositiveSmallIntegerField()
    aliquot = models.OneToOneField(
        "biobank.Aliquot", on_delete=models.PROTECT, related_name="reservation"
    )
    reason = models.CharField(max_length=200)
    retrieval_item = models.ForeignKey(
        "biobank.RetrievalItem",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The pick-list line that took the tube out",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["box_id", "row", "column"]
        constraints = [
            models.UniqueConstraint(
                fields=["box", "row", "column"], name="one_reservation_per_position"
            ),
            models.CheckConstraint(
                condition=Q(row__gte=1) & Q(column__gte=1), name="reservation_position_one_based"
            ),
        ]

    def __str__(self):
        return f"{self.box.barcode} {position_label(self.row, self.column)} kept for {self.aliquot}"


class TemperatureExcursion(models.Model):
    """A freezer that left its set point, and the tubes that were inside during it, each
    with its exposure (ExcursionExposure: read back from the custody log, not only the
    tubes inside when it was recorded)."""

    freezer = models.ForeignKey(Freezer, on_delete=models.PROTECT, related_name="excursions")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    peak_temperature_c = models.FloatField(help_text="°C")
    note = models.CharField(max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    affected_aliquots = models.ManyToManyField(
        "biobank.Aliquot", blank=True, related_name="excursions", through="ExcursionExposure"
    )

    history = HistoricalRecords(m2m_fields=[])

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="excursion_ends_after_start",
            )
        ]

    def __str__(self):
        return f"{self.freezer.name} {self.started_at:%Y-%m-%d} peak {self.peak_temperature_c:g} °C"


class ExcursionExposure(models.Model):
    """A tube that was in the freezer during an excursion: how long it was inside within
    the excursion's window, and how warm the freezer got (the excursion's peak, copied
    so that the QC reads one table).

    The table is the m2m table TemperatureExcursion.affected_aliquots always had
    (migration 0012 kept it and its rows). `minutes` is rounded up: a tube inside for
    any part of a minute counts that minute; 0 when the window has no length yet (an
    excursion recorded at its start). Written by biobank.services.storage, which
    recomputes it when the excursion is closed."""

    excursion = models.ForeignKey(
        TemperatureExcursion,
        on_delete=models.CASCADE,
        db_column="temperatureexcursion_id",
        related_name="exposures",
    )
    aliquot = models.ForeignKey(
        "biobank.Aliquot", on_delete=models.CASCADE, related_name="excursion_exposures"
    )
    minutes = models.PositiveIntegerField(
        default=0, help_text="Minutes the tube was inside the freezer during the excursion"
    )
    peak_temperature_c = models.FloatField(null=True, blank=True, help_text="°C")

    class Meta:
        db_table = "biobank_temperatureexcursion_affected_aliquots"
        unique_together = [("excursion", "aliquot")]
        ordering = ["excursion_id", "aliquot_id"]

    def __str__(self):
        return f"{self.aliquot} {self.minutes} min in {self.excursion}"
