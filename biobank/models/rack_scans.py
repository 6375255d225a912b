"""What a rack-scanner import did, kept so that a confirm can be audited."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class RackScanImport(models.Model):
    """One confirmed rack-scanner file: the rack (a Box whose barcode is the rack's),
    the file's name and SHA-256, the reader that wrote it, who confirmed it and what it
    changed. Every tube it moved or checked in also has its custody event; this row
    says which file those events came from. The same file is not confirmed twice for
    the same rack (a unique constraint, not only a check)."""

    box = models.ForeignKey("biobank.Box", on_delete=models.PROTECT, related_name="rack_scans")
    filename = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    vendor = models.CharField(max_length=32)
    rack_barcode = models.CharField(max_length=64)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    imported_at = models.DateTimeField(auto_now_add=True)
    reason = models.CharField(max_length=300, blank=True)
    positions_read = models.PositiveSmallIntegerField(default=0, help_text="Tubes read")
    tubes_in_place = models.PositiveSmallIntegerField(default=0)
    tubes_moved = models.PositiveSmallIntegerField(default=0)
    tubes_checked_in = models.PositiveSmallIntegerField(default=0)
    positions_unread = models.PositiveSmallIntegerField(default=0)
    tubes_missing = models.PositiveSmallIntegerField(
        default=0, help_text="Tubes recorded in the rack that the scan did not find"
    )

    class Meta:
        ordering = ["-imported_at"]
        constraints = [
            models.UniqueConstraint(fields=["box", "sha256"], name="rack_scan_once_per_rack")
        ]

    def __str__(self):
        return f"{self.filename} into {self.rack_barcode} at {self.imported_at:%Y-%m-%d %H:%M}"
