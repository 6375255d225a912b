"""A temperature excursion marks the tubes that were in the freezer during it, read back
from the custody log, each with its minutes inside; closing it later re-reads them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from biobank.models import Aliquot, ExcursionExposure, StorageEvent
from biobank.services.aliquots import Position, log_event
from biobank.services.custody import custody_events_record
from biobank.services.storage import temperature_excursion_record, temperature_excursion_update

from .factories import AliquotFactory, BoxFactory, FreezerFactory, RackFactory

pytestmark = pytest.mark.django_db

Kind = StorageEvent.Kind
DAY = dt.datetime(2020, 5, 1)


def at(hour, minute=0):
    return timezone.make_aware(DAY.replace(hour=hour, minute=minute))


@pytest.fixture
def freezers():
    hot, cold = FreezerFactory(name="ULT-HOT"), FreezerFactory(name="ULT-COLD")
    return (
        BoxFactory(rack=RackFactory(freezer=hot), barcode="HOT-BOX"),
        BoxFactory(rack=RackFactory(freezer=cold), barcode="COLD-BOX"),
    )


def tube_with_log(barcode, steps, *, column):
    """A tube whose custody log is `steps` [(kind, hour, minute, box or None)], left
    where the last step put it (same row 1, given column, in every box)."""
    tube = AliquotFactory(barcode=barcode, box=None, row=None, column=None, status="out")
    where, events = None, []
    for kind, hour, minute, box in steps:
        source = Position(where, 1, column) if where else None
        target = Position(box, 1, column) if box else None
        events.append(
            log_event(tube, kind, user=None, source=source, target=target, at=at(hour, minute))
        )
        where = box
    custody_events_record(events)
    if where is not None:
        Aliquot.objects.filter(pk=tube.pk).update(status="stored", box=where, row=1, column=column)
    return tube


@pytest.fixture
def tubes(freezers):
    hot, cold = freezers
    return {
        "stayed": tube_with_log("STAYED", [(Kind.CHECK_IN, 8, 0, hot)], column=1),
        "moved out before": tube_with_log(
            "GONE", [(Kind.CHECK_IN, 8, 0, hot), (Kind.MOVE, 9, 0, cold)], column=2
        ),
        "moved in during": tube_with_log(
            "LATE", [(Kind.CHECK_IN, 8, 0, cold), (Kind.MOVE, 11, 30, hot)], column=3
        ),
        "checked out during": tube_with_log(
            "OUTING",
            [
                (Kind.CHECK_IN, 8, 0, hot),
                (Kind.CHECK_OUT, 10, 30, None),
                (Kind.CHECK_IN, 11, 0, hot),
            ],
            column=4,
        ),
        "came after": tube_with_log("AFTER", [(Kind.CHECK_IN, 12, 30, hot)], column=5),
    }


def exposure_minutes(excursion):
    return dict(excursion.exposures.values_list("aliquot__barcode", "minutes"))


def test_the_tubes_inside_during_the_window_are_marked_with_their_minutes(freezers, tubes, curator):
    excursion = temperature_excursion_record(
        freezer=freezers[0].rack.freezer,
        started_at=at(10),
        ended_at=at(12),
        peak_temperature_c=-41,
        user=curator,
    )
    # Moved out before: not marked; moved in at 11:30: 30 min; out 10:30-11:00: 90 min.
    assert exposure_minutes(excursion) == {"STAYED": 120, "LATE": 30, "OUTING": 90}
    assert set(ExcursionExposure.objects.values_list("peak_temperature_c", flat=True)) == {-41}
    lines = StorageEvent.objects.filter(kind=Kind.EXCURSION)
    assert lines.count() == 3
    late = lines.get(aliquot=tubes["moved in during"])
    assert "inside 30 min" in late.reason and "-41 °C" in late.reason
    assert not tubes["moved out before"].events.filter(kind=Kind.EXCURSION).exists()


def test_closing_an_open_excursion_reads_the_tubes_again(freezers, tubes, curator):
    excursion = temperature_excursion_record(
        freezer=freezers[0].rack.freezer, started_at=at(10), peak_temperature_c=-30, user=curator
    )
    # Going on: up to now, so the tube that came at 12:30 is inside too.
    going_on = exposure_minutes(excursion)
    assert set(going_on) == {"STAYED", "LATE", "OUTING", "AFTER"}
    assert going_on["STAYED"] > 120
    after = tubes["came after"]
    (marked,) = after.events.filter(kind=Kind.EXCURSION)

    temperature_excursion_update(excursion=excursion, ended_at=at(12), note="", user=curator)
    assert exposure_minutes(excursion) == {"STAYED": 120, "LATE": 30, "OUTING": 90}
    void = after.events.get(kind=Kind.VOID)
    assert void.voids_id == marked.pk and "not in freezer ULT-HOT" in void.reason
    stayed = tubes["stayed"].events.filter(kind=Kind.EXCURSION).order_by("id")
    assert stayed.count() == 2 and "closed" in stayed.last().reason
    assert "inside 120 min" in stayed.last().reason
    # A note alone re-reads nothing.
    before = StorageEvent.objects.count()
    temperature_excursion_update(excursion=excursion, ended_at=at(12), note="door", user=curator)
    assert StorageEvent.objects.count() == before


def test_the_tube_page_shows_its_excursions(client, freezers, tubes, curator):
    temperature_excursion_record(
        freezer=freezers[0].rack.freezer,
        started_at=at(10),
        ended_at=at(12),
        peak_temperature_c=-41,
        user=curator,
    )
    client.force_login(curator)
    page = client.get(reverse("web:sample_detail", args=[tubes["moved in during"].pk]))
    text = page.content.decode()
    assert "Temperature excursions" in text and "ULT-HOT" in text
    assert "30 min" in text and "-41 °C" in text
    other = client.get(reverse("web:sample_detail", args=[tubes["moved out before"].pk]))
    assert "Temperature excursions" not in other.content.decode()


def test_the_number_of_queries_does_not_grow_with_the_tubes(freezers, curator):
    hot = freezers[0]
    counts = []
    for n in (3, 30):
        for i in range(n):
            tube_with_log(f"Q{n}-{i}", [(Kind.CHECK_IN, 8, 0, BoxFactory(rack=hot.rack))], column=1)
        with CaptureQueriesContext(connection) as queries:
            temperature_excursion_record(
                freezer=hot.rack.freezer,
                started_at=at(10),
                ended_at=at(12),
                peak_temperature_c=-41,
                user=curator,
            )
        counts.append(len(queries))
    assert counts[0] == counts[1]
