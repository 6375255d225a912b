"""Custody that stands an inspection (issue 15): the log is append-only, corrected by
void events, hash-chained per tube by every writer, and `verify_custody` finds an
edit or a deletion made behind the application's back (raw SQL)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from biobank.domain.custody import GENESIS, event_hash
from biobank.models import Aliquot, StorageEvent
from biobank.models.storage import CustodyLogIsAppendOnly
from biobank.services.aliquots import (
    Position,
    aliquot_check_in,
    aliquot_check_out,
    aliquot_consume,
    aliquot_move,
    aliquot_thaw,
    aliquots_create,
    lock_aliquots,
    log_event,
)
from biobank.services.custody import custody_events_record, storage_event_void
from biobank.services.storage import temperature_excursion_record

from .factories import BoxFactory, SerumDrawFactory

pytestmark = pytest.mark.django_db

TABLE = StorageEvent._meta.db_table


def verify(*args) -> tuple[int, str]:
    """(exit status, everything printed) of manage.py verify_custody."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_custody", *args, stdout=out, stderr=err)
    except SystemExit as stop:
        return stop.code, out.getvalue() + err.getvalue()
    return 0, out.getvalue() + err.getvalue()


def raw(sql: str, *params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql.format(table=connection.ops.quote_name(TABLE)), params)


def assert_chained(aliquot) -> None:
    """Each event links to the one before it, in (at, id) order, by the one function."""
    previous = GENESIS
    events = list(StorageEvent.objects.filter(aliquot=aliquot).order_by("at", "id"))
    assert events
    for event in events:
        assert event.previous_hash == previous
        assert event.hash == event_hash(previous, event)
        previous = event.hash


@pytest.fixture
def tubes(technician):
    """Three tubes cut from one draw, each with a few events."""
    draw = SerumDrawFactory(serum_volume_ul=Decimal("1000"))
    box = BoxFactory()
    made = aliquots_create(
        draw=draw,
        volume_ul=200,
        user=technician,
        positions=[Position(box, 1, column) for column in (1, 2, 3)],
    )
    first = made[0]
    aliquot_check_out(aliquot=first, user=technician, reason="to the bench")
    aliquot_check_in(aliquot=first, position=Position(box, 2, 1), user=technician)
    aliquot_move(aliquot=first, position=Position(box, 3, 1), user=technician, reason="tidy")
    aliquot_consume(aliquot=first, volume_ul="50.05", user=technician, reason="ELISA")
    aliquot_thaw(aliquot=made[1], user=technician, reason="freezer door open")
    return [Aliquot.objects.get(pk=a.pk) for a in made]


def middle_event(aliquot) -> StorageEvent:
    return StorageEvent.objects.filter(aliquot=aliquot).order_by("at", "id")[2]


class TestEveryWriterChains:
    def test_services(self, tubes):
        for tube in tubes:
            assert_chained(tube)
        assert StorageEvent.objects.filter(aliquot=tubes[0]).count() == 5
        assert verify()[0] == 0

    def test_bulk_excursion(self, tubes, curator):
        temperature_excursion_record(
            freezer=tubes[0].box.rack.freezer,
            started_at=timezone.now() - dt.timedelta(hours=1),
            peak_temperature_c=-40,
            user=curator,
        )
        for tube in tubes:
            assert StorageEvent.objects.filter(aliquot=tube, kind="excursion").exists()
            assert_chained(tube)

    def test_demo_loader(self, demo):
        status, printed = verify()
        assert status == 0, printed
        assert "Custody chains intact" in printed
        tube = Aliquot.objects.filter(status=Aliquot.Status.USED_UP).first()
        assert_chained(tube)

    def test_volume_is_hashed_as_stored(self, tubes):
        consume = StorageEvent.objects.get(aliquot=tubes[0], kind="consume")
        assert consume.volume_change_ul == Decimal("-50.1")  # hashed after rounding

    def test_an_event_dated_before_the_tube_s_last_is_refused(self, tubes, technician):
        early = log_event(
            tubes[2], "thaw", user=technician, at=timezone.now() - dt.timedelta(days=1)
        )
        with pytest.raises(ValidationError, match="before its last event"):
            custody_events_record([early])


class TestVerifyFindsTampering:
    @pytest.mark.parametrize(
        "column, value",
        [
            ("reason", "nothing to see"),
            ("at", dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
            ("to_box_id", None),
        ],
    )
    def test_raw_update_of_an_event(self, tubes, column, value):
        event = StorageEvent.objects.get(aliquot=tubes[0], kind="check_in", to_row=2)
        if column == "at":
            value = connection.ops.adapt_datetimefield_value(value)
        raw(f"UPDATE {{table}} SET {column} = %s WHERE id = %s", value, event.pk)
        status, printed = verify()
        assert status == 1
        assert f"BROKEN {tubes[0].barcode} event {event.pk} (check_in" in printed
        assert tubes[1].barcode not in printed  # other tubes stay verified

    def test_raw_update_that_recomputes_the_event_s_own_hash(self, tubes):
        event = middle_event(tubes[0])
        event.reason = "rewritten"
        forged = event_hash(event.previous_hash, event)
        raw(
            "UPDATE {table} SET reason = %s, hash = %s WHERE id = %s", "rewritten", forged, event.pk
        )
        following = StorageEvent.objects.filter(aliquot=tubes[0]).order_by("at", "id")[3]
        status, printed = verify()
        assert status == 1
        assert f"event {following.pk} ({following.kind}" in printed and "link broken" in printed

    def test_raw_delete_of_a_middle_event(self, tubes):
        events = list(StorageEvent.objects.filter(aliquot=tubes[0]).order_by("at", "id"))
        raw("DELETE FROM {table} WHERE id = %s", events[2].pk)
        status, printed = verify()
        assert status == 1
        assert f"BROKEN {tubes[0].barcode} event {events[3].pk}" in printed
        assert "deleted, inserted or re-dated" in printed

    def test_one_tube(self, tubes):
        raw("UPDATE {table} SET reason = 'x' WHERE id = %s", middle_event(tubes[0]).pk)
        assert verify("--aliquot", tubes[1].barcode)[0] == 0
        assert verify("--aliquot", tubes[0].barcode)[0] == 1
        with pytest.raises(CommandError, match="NOPE"):
            call_command("verify_custody", "--aliquot", "NOPE")

    def test_demo_after_raw_update(self, demo):
        event = StorageEvent.objects.filter(kind="consume").order_by("id")[10]
        raw("UPDATE {table} SET reason = 'moved elsewhere' WHERE id = %s", event.pk)
        status, printed = verify()
        assert status == 1
        assert f"BROKEN {event.aliquot.barcode} event {event.pk} (consume" in printed
        assert printed.count("BROKEN") == 1


class TestAppendOnly:
    def test_save_and_delete_refused(self, tubes):
        event = middle_event(tubes[0])
        event.reason = "edited"
        with pytest.raises(CustodyLogIsAppendOnly):
            event.save()
        with pytest.raises(CustodyLogIsAppendOnly):
            event.delete()
        assert StorageEvent.objects.get(pk=event.pk).reason != "edited"

    def test_unchained_writes_refused(self, tubes, technician):
        with pytest.raises(CustodyLogIsAppendOnly):
            log_event(tubes[2], "thaw", user=technician).save()
        with pytest.raises(CustodyLogIsAppendOnly):
            StorageEvent.objects.bulk_create([log_event(tubes[2], "thaw", user=technician)])

    def test_admin_cannot_change_or_delete(self, client, curator, tubes):
        client.force_login(curator)
        event = middle_event(tubes[0])
        change = reverse("admin:biobank_storageevent_change", args=[event.pk])
        assert client.get(change).status_code == 200  # read-only view
        assert client.post(change, {"reason": "edited"}).status_code == 403
        delete = reverse("admin:biobank_storageevent_delete", args=[event.pk])
        assert client.post(delete, {"post": "yes"}).status_code == 403
        assert StorageEvent.objects.get(pk=event.pk).reason == event.reason
        assert verify()[0] == 0


class TestVoid:
    def test_void_then_refused_twice_and_void_of_void(self, tubes, curator):
        event = middle_event(tubes[0])
        void = storage_event_void(event=event, user=curator, reason="scanned the wrong tube")
        assert (void.kind, void.voids_id, void.user) == ("void", event.pk, curator)
        assert StorageEvent.objects.get(pk=event.pk).voided_by == void
        assert_chained(tubes[0])
        assert verify()[0] == 0
        with pytest.raises(ValidationError, match=f"already voided by event {void.pk}"):
            storage_event_void(event=event, user=curator, reason="again")
        with pytest.raises(ValidationError, match="is itself a void"):
            storage_event_void(event=void, user=curator, reason="undo")
        assert StorageEvent.objects.filter(kind="void").count() == 1

    def test_reason_required(self, tubes, curator):
        with pytest.raises(ValidationError) as caught:
            storage_event_void(event=middle_event(tubes[0]), user=curator, reason="  ")
        assert "reason" in caught.value.message_dict
        with pytest.raises(ValidationError, match="301 characters; at most 300"):
            storage_event_void(event=middle_event(tubes[0]), user=curator, reason="x" * 301)
        assert not StorageEvent.objects.filter(kind="void").exists()

    def test_tube_page_strikes_the_voided_event(self, client, curator, tubes):
        event = middle_event(tubes[0])
        storage_event_void(event=event, user=curator, reason="scanned the wrong tube")
        client.force_login(curator)
        page = client.get(reverse("web:sample_detail", args=[tubes[0].pk])).content.decode()
        assert f'id="event-{event.pk}" class="voided"' in page
        assert "scanned the wrong tube" in page


class TestBulkWritersKeepConstantQueries:
    def test_chained_check_out_of_n_tubes(self, technician):
        """Two queries (the heads of every tube, one insert) whatever the number of tubes."""
        draw = SerumDrawFactory(serum_volume_ul=Decimal("10000"))
        box = BoxFactory(rows=9, columns=9)
        made = aliquots_create(
            draw=draw,
            volume_ul=10,
            user=technician,
            positions=[Position(box, row, column) for row in range(1, 9) for column in (1, 2, 3)],
        )

        def check_out(tubes) -> int:
            with CaptureQueriesContext(connection) as queries:
                custody_events_record(
                    [
                        log_event(tube, "check_out", user=technician, reason="batch")
                        for tube in lock_aliquots(tubes)
                    ]
                )
            return len(queries)

        assert check_out(made[:2]) == check_out(made[2:24]) == 3  # lock, heads, insert
        for tube in made[:24]:
            assert_chained(tube)

    def test_excursion_over_n_tubes(self, technician, curator):
        def record(count: int) -> int:
            draw = SerumDrawFactory(serum_volume_ul=Decimal("10000"))
            box = BoxFactory()
            aliquots_create(
                draw=draw,
                volume_ul=10,
                user=technician,
                positions=[Position(box, 1 + i // 9, 1 + i % 9) for i in range(count)],
            )
            with CaptureQueriesContext(connection) as queries:
                temperature_excursion_record(
                    freezer=box.rack.freezer,
                    started_at=timezone.now(),
                    peak_temperature_c=-50,
                    user=curator,
                )
            return len(queries)

        assert record(2) == record(30)
        assert verify()[0] == 0


class TestTimelineExport:
    def test_csv_for_a_curator(self, client, curator, technician, tubes):
        event = middle_event(tubes[0])
        storage_event_void(event=event, user=curator, reason="=HYPERLINK(1)")
        client.force_login(curator)
        response = client.get(reverse("web:sample_custody_csv", args=[tubes[0].pk]))
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        lines = list(csv.reader(io.StringIO(response.content.decode())))
        assert lines[0] == [f"Custody timeline of aliquot {tubes[0].barcode}"]
        assert lines[2][0].startswith("Chain verified: 6 event(s)")
        header = lines[5]
        events = [dict(zip(header, line, strict=True)) for line in lines[6:]]
        assert [row["What"] for row in events] == [
            "Check-in",
            "Check-out",
            "Check-in",
            "Move",
            "Consumed",
            "Void",
        ]
        assert events[1]["From"] == f"{tubes[0].box.barcode} A1"
        assert events[1]["Who"] == technician.username
        assert events[4]["Volume change (µl)"] == "-50.1"
        void = events[5]
        assert void["Why"] == "'=HYPERLINK(1)"  # neutralised: a spreadsheet shows it as text
        assert void["Voids event"] == str(event.pk)
        voided = next(row for row in events if row["Event"] == str(event.pk))
        assert voided["Voided by event"] == void["Event"]
        assert {row["Chain"] for row in events} == {"ok"}

    def test_csv_says_when_the_chain_is_broken(self, client, curator, tubes):
        event = middle_event(tubes[0])
        raw("UPDATE {table} SET reason = 'x' WHERE id = %s", event.pk)
        client.force_login(curator)
        text = client.get(reverse("web:sample_custody_csv", args=[tubes[0].pk])).content.decode()
        assert "CHAIN BROKEN at 1 event(s)" in text.splitlines()[2]
        assert "fields changed" in text

    def test_pdf_for_a_technician(self, client, technician, tubes):
        client.force_login(technician)
        response = client.get(reverse("web:sample_custody_pdf", args=[tubes[0].pk]))
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
        assert tubes[0].barcode.encode() in response.content

    def test_who_may_download(self, client, analyst, tubes):
        for name in ("web:sample_custody_csv", "web:sample_custody_pdf"):
            url = reverse(name, args=[tubes[0].pk])
            assert client.get(url).status_code == 302  # to the login page
            client.force_login(analyst)
            assert client.get(url).status_code == 403
            client.logout()

    def test_unknown_tube(self, client, curator):
        client.force_login(curator)
        assert client.get(reverse("web:sample_custody_pdf", args=[99999])).status_code == 404

    def test_tube_page_links_the_exports(self, client, technician, tubes):
        client.force_login(technician)
        page = client.get(reverse("web:sample_detail", args=[tubes[0].pk])).content.decode()
        assert reverse("web:sample_custody_pdf", args=[tubes[0].pk]) in page
        assert "Void…" not in page  # technicians do not void


class TestVoidPage:
    def test_curator_voids_from_the_tube_page(self, client, curator, tubes):
        event = middle_event(tubes[0])
        client.force_login(curator)
        url = reverse("web:custody_event_void", args=[event.pk])
        assert client.post(url, {"reason": ""}).status_code == 200
        assert not StorageEvent.objects.filter(kind="void").exists()
        response = client.post(url, {"reason": "wrong tube scanned"})
        assert response.status_code == 302
        assert StorageEvent.objects.get(kind="void").voids_id == event.pk

    def test_technician_may_not(self, client, technician, tubes):
        client.force_login(technician)
        url = reverse("web:custody_event_void", args=[middle_event(tubes[0]).pk])
        assert client.post(url, {"reason": "x"}).status_code == 403


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_a_tube_s_chain(curator):
    """Four thaws and a freezer excursion on one tube at the same instant, on real
    PostgreSQL connections: each waits for the tube's row lock, so each event chains
    after the one committed before it (no two events share a previous hash)."""
    from biobank.services.aliquots import aliquot_thaw as thaw

    from .factories import AliquotFactory, UserFactory
    from .test_race import run_concurrently

    tube = AliquotFactory()
    users = [UserFactory(username=f"thawer{i}") for i in range(4)]
    outcomes = run_concurrently(
        *[lambda user=user: thaw(aliquot=tube, user=user, reason="bench") for user in users],
        lambda: temperature_excursion_record(
            freezer=tube.box.rack.freezer,
            started_at=timezone.now(),
            peak_temperature_c=-20,
            user=curator,
        ),
    )
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    events = StorageEvent.objects.filter(aliquot=tube)
    assert events.count() == 5
    assert len(set(events.values_list("previous_hash", flat=True))) == 5
    assert_chained(tube)
    assert verify()[0] == 0


def test_the_migration_fills_the_hashes_of_existing_events(tubes):
    """0010's data step, on events whose hashes are blank (as before the migration)."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps

    migration = importlib.import_module("biobank.migrations.0010_custody_chain")
    raw("UPDATE {table} SET hash = '', previous_hash = ''")
    assert verify()[0] == 1
    migration.fill_hashes(apps, SimpleNamespace(connection=connection))
    for tube in tubes:
        assert_chained(tube)
    assert verify()[0] == 0
