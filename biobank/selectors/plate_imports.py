"""A plate's imports as the plate page and the upload page list them."""

from __future__ import annotations

from biobank.models import PlateImport, QpcrPlate, WellImportChange


def plate_import_history(plate: QpcrPlate) -> list[PlateImport]:
    """The plate's imports, newest first, with who imported and who reverted them, and
    for each live one `blocked_by`: the newest later live import that wrote some of
    the same wells (it must be reverted first), or None. Two queries."""
    imports = list(
        PlateImport.objects.filter(plate=plate)
        .select_related("imported_by", "reverted_by")
        .order_by("-imported_at", "-pk")
    )
    live = {record.pk: record for record in imports if record.reverted_at is None}
    wells_of: dict[int, set[int]] = {pk: set() for pk in live}
    if len(live) > 1:
        for import_id, well_id in WellImportChange.objects.filter(
            plate_import_id__in=list(live)
        ).values_list("plate_import_id", "well_id"):
            wells_of[import_id].add(well_id)
    for record in imports:
        record.blocked_by = None
        if record.pk not in live:
            continue
        later = [
            other
            for pk, other in live.items()
            if pk > record.pk and wells_of[pk] & wells_of[record.pk]
        ]
        record.blocked_by = max(later, key=lambda other: other.pk) if later else None
    return imports
