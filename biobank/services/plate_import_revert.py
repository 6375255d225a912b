"""Undoing a confirmed plate import.

plate_import_confirm keeps, for every well it wrote, a WellImportChange with the
exact previous Cq, the import that value came from and the exclusion decision it
cleared. Reverting writes those back, logs who, when and why (on the import and in
every well's history), re-runs the analyses that read Cq, and frees the file to be
imported again (its SHA-256 is unique among live imports only).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from analysis.triggers import schedule_reanalysis
from biobank.models import PlateImport, QpcrPlate, Well, WellImportChange

from .bulk_history import bulk_update_with_history_sql
from .plate_import import WRITTEN_FIELDS, lock_plate_wells, same_cq


def _describe(record: PlateImport) -> str:
    return f"import #{record.pk} ({record.original_name}, {record.imported_at:%Y-%m-%d %H:%M})"


@transaction.atomic
def plate_import_revert(*, plate_import: PlateImport, user, reason: str) -> PlateImport:
    """Put back every well the import wrote, exactly as it was before the import.

    Refused, with nothing changed, without a reason, when the import is already
    reverted, when a later live import on the plate wrote some of the same wells
    (revert that one first: its previous values are this import's), or when a well no
    longer holds the value this import gave it (changed since by other means).
    Constant queries whatever the number of wells."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give the reason for reverting the import"})
    plate = QpcrPlate.objects.select_for_update().get(pk=plate_import.plate_id)
    lock_plate_wells(plate)  # the values checked below are the values overwritten
    record = (
        PlateImport.objects.select_for_update(of=("self",))  # PostgreSQL: not the user
        .select_related("reverted_by")
        .get(pk=plate_import.pk)
    )
    if record.reverted_at is not None:
        who = record.reverted_by.get_username() if record.reverted_by else "someone"
        raise ValidationError(
            {
                "plate_import": f"{_describe(record).capitalize()} was already reverted on "
                f"{record.reverted_at:%Y-%m-%d %H:%M} by {who}"
            }
        )
    changes = list(
        WellImportChange.objects.filter(plate_import=record)
        .select_related("well")
        .order_by("well_id")
    )
    later = list(
        PlateImport.objects.filter(
            plate=plate,
            reverted_at__isnull=True,
            pk__gt=record.pk,
            well_changes__well_id__in=[change.well_id for change in changes],
        )
        .distinct()
        .order_by("-pk")
    )
    if later:
        raise ValidationError(
            {
                "plate_import": f"{_describe(later[0]).capitalize()} changed wells of "
                f"{_describe(record)} since: revert that one first"
            }
        )
    moved = [
        change.well.position
        for change in changes
        if change.well.imported_from_id != record.pk or not same_cq(change.well.cq, change.new_cq)
    ]
    if moved:
        raise ValidationError(
            {
                "plate_import": f"Wells {', '.join(moved[:8])} no longer hold the values of "
                f"{_describe(record)}: a curator must correct them by hand"
            }
        )

    user = user if getattr(user, "is_authenticated", False) else None
    wells = []
    for change in changes:
        well = change.well
        well.cq = change.previous_cq
        well.imported_from_id = change.previous_imported_from_id
        well.excluded = change.previous_excluded
        well.exclusion_reason = change.previous_exclusion_reason
        well.excluded_by_id = change.previous_excluded_by_id
        well.excluded_at = change.previous_excluded_at
        well.quantity = change.previous_quantity
        well.quantity_unit = change.previous_quantity_unit
        wells.append(well)
    bulk_update_with_history_sql(
        objs=wells,
        model=Well,
        fields=WRITTEN_FIELDS,
        user=user,
        change_reason=f"revert of import #{record.pk}: {reason}",
    )
    record.reverted_at = timezone.now()
    record.reverted_by = user
    record.revert_reason = reason[:300]
    record.save(update_fields=["reverted_at", "reverted_by", "revert_reason"])
    if not plate.imports.filter(reverted_at__isnull=True).exists():
        plate.status = QpcrPlate.Status.LAYOUT  # awaiting its export again
        plate._change_reason = f"revert of import #{record.pk}"
        plate.save(update_fields=["status"])
    schedule_reanalysis(reason=f"plate {plate.barcode} import #{record.pk} reverted", model=Well)
    return record
