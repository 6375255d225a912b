"""Temperature excursions: which tubes were in the freezer during one, read back from
the custody log (biobank.domain.exposure), and a tube's excursions for its page."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from biobank.domain.exposure import Exposure, TubeLog, exposures
from biobank.models import Aliquot, ExcursionExposure, StorageEvent, TemperatureExcursion


def freezer_tube_logs(*, freezer_id: int, until: dt.datetime, models=None) -> list[TubeLog]:
    """The custody logs, up to `until`, of every tube that ever entered the freezer by
    then or is in it now. Two queries whatever the number of tubes. `models`: the
    (Aliquot, StorageEvent) classes to read with (a migration's historical models)."""
    aliquot_model, event_model = models or (Aliquot, StorageEvent)
    entered = event_model.objects.filter(to_box__rack__freezer_id=freezer_id, at__lte=until)
    tubes = list(
        aliquot_model.objects.filter(
            Q(box__rack__freezer_id=freezer_id) | Q(pk__in=entered.values("aliquot_id"))
        )
        .order_by("pk")
        .values_list("pk", "created_at", "box__rack__freezer_id", "status")
    )
    events: dict[int, list] = {pk: [] for pk, *_ in tubes}
    rows = (
        event_model.objects.filter(aliquot_id__in=list(events), at__lte=until)
        .order_by("aliquot_id", "at", "id")
        .values_list(
            "aliquot_id", "kind", "at", "from_box__rack__freezer_id", "to_box__rack__freezer_id"
        )
    )
    for aliquot_id, kind, at, source, target in rows:
        events[aliquot_id].append((kind, at, source, target))
    return [
        TubeLog(pk, created_at, freezer_now, status == "used_up", events[pk])
        for pk, created_at, freezer_now, status in tubes
    ]


def excursion_window(excursion, *, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[started_at, ended_at], or up to `now` while it goes on."""
    end = excursion.ended_at or max(now, excursion.started_at)
    return excursion.started_at, end


def excursion_exposures(excursion, *, now: dt.datetime, models=None) -> dict[int, Exposure]:
    """Aliquot id -> exposure of every tube that was in the excursion's freezer during
    it (two queries)."""
    start, end = excursion_window(excursion, now=now)
    logs = freezer_tube_logs(freezer_id=excursion.freezer_id, until=end, models=models)
    return exposures(logs, freezer_id=excursion.freezer_id, start=start, end=end)


def aliquot_excursions(aliquot: Aliquot) -> list[ExcursionExposure]:
    """The tube's excursions, newest first, each with its window, peak and minutes."""
    return list(
        ExcursionExposure.objects.filter(aliquot=aliquot)
        .select_related("excursion__freezer")
        .order_by("-excursion__started_at")
    )


def excursion_tubes(excursion: TemperatureExcursion) -> list[ExcursionExposure]:
    return list(
        excursion.exposures.select_related("aliquot").order_by("-minutes", "aliquot__barcode")
    )
