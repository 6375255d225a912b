"""Many tubes at once (biobank/services/bulk.py): per-tube outcomes in scan order, a
refused tube never stops the others unless all-or-nothing, a dry run writes nothing,
and 96 tubes cost the queries of one."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from biobank.models import Aliquot, PositionReservation, StorageEvent
from biobank.services.aliquots import Position, aliquot_check_out, log_event
from biobank.services.bulk import (
    aliquots_check_in,
    aliquots_check_out,
    aliquots_discard,
    aliquots_move,
)
from biobank.services.custody import custody_events_record, storage_event_void

from .factories import AliquotFactory, BoxFactory, SerumDrawFactory, UserFactory

pytestmark = pytest.mark.django_db

OUT, STORED, DISCARDED = Aliquot.Status.OUT, Aliquot.Status.STORED, Aliquot.Status.DISCARDED


def rack(count, *, box=None, draw=None):
    """`count` stored tubes filling a 96-well-shaped box row by row."""
    box = box or BoxFactory(rows=8, columns=12)
    draw = draw or SerumDrawFactory()
    return [
        AliquotFactory(draw=draw, box=box, row=i // 12 + 1, column=i % 12 + 1) for i in range(count)
    ]


def state(tube):
    tube.refresh_from_db()
    return tube.status, tube.box_id, tube.row, tube.column


def events(kind=None):
    found = StorageEvent.objects.all()
    return found.filter(kind=kind) if kind else found


class TestCheckOut:
    def test_outcomes_in_scan_order_and_the_rest_is_done(self, technician):
        a, b, c = rack(3)
        aliquot_check_out(aliquot=c, user=technician, reason="bench")
        result = aliquots_check_out(
            codes=[b.barcode, "NOPE-1", a.barcode, b.barcode, c.barcode, "  "],
            user=technician,
            reason="extraction run 12",
        )
        assert result.applied
        assert [o.code for o in result.outcomes] == [b.barcode, "NOPE-1", a.barcode] + [
            b.barcode,
            c.barcode,
        ]
        assert [o.ok for o in result.outcomes] == [True, False, True, False, False]
        messages = [o.message for o in result.outcomes]
        assert messages[0] == f"Aliquot {b.barcode} checked out from {b.box.barcode} A2"
        assert messages[1] == "No tube has barcode NOPE-1"
        assert "scanned twice" in messages[3] and b.barcode in messages[3]
        assert messages[4] == f"Aliquot {c.barcode} is checked out; it cannot be checked out"
        assert [o.aliquot for o in result.done] == [b, a]
        assert state(a) == (OUT, None, None, None) and state(b) == (OUT, None, None, None)
        logged = events("check_out").filter(reason="extraction run 12")
        assert sorted(logged.values_list("aliquot_id", "from_row", "from_column")) == [
            (a.pk, 1, 1),
            (b.pk, 1, 2),
        ]
        assert all(event.user == technician for event in logged)
        history = Aliquot.history.filter(id=a.pk).order_by("-history_id").first()
        assert history.status == OUT and history.history_change_reason == "extraction run 12"
        assert history.history_user_id == technician.pk

    def test_all_or_nothing_changes_nothing_and_names_each_refused_tube(self, technician):
        a, b = rack(2)
        with pytest.raises(ValidationError) as caught:
            aliquots_check_out(
                codes=[a.barcode, "NOPE-2", b.barcode],
                user=technician,
                reason="pick list",
                all_or_nothing=True,
            )
        assert caught.value.message_dict == {"tubes": ["No tube has barcode NOPE-2"]}
        assert state(a)[0] == STORED and state(b)[0] == STORED
        assert not events().exists()

    def test_a_dry_run_says_what_would_be_done_and_writes_nothing(self, technician):
        a, b = rack(2)
        history = Aliquot.history.count()
        result = aliquots_check_out(
            codes=[a.barcode, b.barcode, "NOPE"],
            user=technician,
            reason="r",
            dry_run=True,
            all_or_nothing=True,
        )
        assert not result.applied
        assert result.outcomes[0].message == f"Aliquot {a.barcode} will be checked out from " + (
            f"{a.box.barcode} A1"
        )
        assert len(result.done) == 2 and len(result.refused) == 1
        assert state(a)[0] == STORED and not events().exists()
        assert Aliquot.history.count() == history

    def test_the_reason_follows_the_labs_policy(self, technician, settings):
        (a,) = rack(1)
        with pytest.raises(ValidationError) as caught:
            aliquots_check_out(codes=[a.barcode], user=technician, reason="  ")
        assert "reason" in caught.value.message_dict
        with pytest.raises(ValidationError) as caught:
            aliquots_check_out(codes=[a.barcode], user=technician, reason="x" * 301)
        assert "at most 300" in caught.value.message_dict["reason"][0]
        settings.EXOTRACK_REASON_REQUIRED = {
            **settings.EXOTRACK_REASON_REQUIRED,
            "check_out": False,
        }
        assert aliquots_check_out(codes=[a.barcode], user=technician, reason="").applied
        assert events("check_out").get().reason == ""

    def test_a_failure_after_the_update_rolls_everything_back(self, technician):
        """The custody log refuses an event dated before the tube's last one: the update
        already sent is rolled back with it."""
        a, b = rack(2)
        future = log_event(b, "thaw", user=technician, at=timezone.now() + timedelta(hours=1))
        custody_events_record([future])
        with pytest.raises(ValidationError):
            aliquots_check_out(codes=[a.barcode, b.barcode], user=technician, reason="r")
        assert state(a)[0] == STORED and state(b)[0] == STORED
        assert events().count() == 1
        assert not Aliquot.history.filter(status=OUT).exists()


class TestDiscard:
    def test_stored_and_out_tubes_are_discarded_and_their_kept_places_freed(self, technician):
        a, b = rack(2)
        box = b.box
        b = aliquot_check_out(aliquot=b, user=technician, reason="retrieval")
        PositionReservation.objects.create(box=box, row=1, column=2, aliquot=b, reason="R-1")
        result = aliquots_discard(
            codes=[a.barcode, b.barcode], user=technician, reason="haemolysed"
        )
        assert [o.ok for o in result.outcomes] == [True, True]
        assert result.outcomes[1].message == f"Aliquot {b.barcode} discarded"
        assert state(a) == (DISCARDED, None, None, None) and state(b)[0] == DISCARDED
        assert not PositionReservation.objects.exists()
        again = aliquots_discard(codes=[a.barcode], user=technician, reason="twice")
        assert again.outcomes[0].message.endswith("is discarded; it cannot be discarded")
        assert not again.applied

    def test_a_refused_discard_keeps_the_reservation(self, technician):
        (a,) = rack(1)
        box = a.box
        a = aliquot_check_out(aliquot=a, user=technician, reason="retrieval")
        PositionReservation.objects.create(box=box, row=1, column=1, aliquot=a, reason="R-1")
        with pytest.raises(ValidationError):
            aliquots_discard(
                codes=[a.barcode, "NOPE"], user=technician, reason="x", all_or_nothing=True
            )
        assert PositionReservation.objects.filter(aliquot=a).exists()


class TestCheckIn:
    def test_without_a_target_each_tube_goes_to_its_kept_else_its_last_position(self, technician):
        a, b, c = rack(3)
        box = a.box
        aliquots_check_out(codes=[a.barcode, b.barcode, c.barcode], user=technician, reason="bench")
        PositionReservation.objects.create(box=box, row=5, column=5, aliquot_id=b.pk, reason="R-2")
        elsewhere = BoxFactory()
        result = aliquots_check_in(
            placements=[
                (a.barcode, None),
                (b.barcode, None),
                (c.barcode, Position(elsewhere, 2, 2)),
            ],
            user=technician,
        )
        assert [o.ok for o in result.outcomes] == [True, True, True]
        assert result.outcomes[0].message == (
            f"Aliquot {a.barcode} checked in at {box.barcode} A1 (its last position)"
        )
        assert result.outcomes[1].message.endswith(f"{box.barcode} E5 (its kept position)")
        assert state(a) == (STORED, box.pk, 1, 1) and state(b) == (STORED, box.pk, 5, 5)
        assert state(c) == (STORED, elsewhere.pk, 2, 2)
        assert not PositionReservation.objects.exists()
        assert sorted(events("check_in").values_list("to_row", "to_column")) == [
            (1, 1),
            (2, 2),
            (5, 5),
        ]

    def test_a_voided_departure_is_not_the_last_position(self, technician):
        (a,) = rack(1)
        box = a.box
        aliquots_move(placements=[(a.barcode, Position(box, 3, 3))], user=technician, reason="tidy")
        aliquots_check_out(codes=[a.barcode], user=technician, reason="bench")
        result = aliquots_check_in(placements=[(a.barcode, None)], user=technician, dry_run=True)
        assert result.outcomes[0].target.label == f"{box.barcode} C3"  # the check-out's from
        # The check-out was logged from C3 by mistake: voided, the move's from is the last.
        storage_event_void(event=events("check_out").get(), user=technician, reason="wrong")
        result = aliquots_check_in(placements=[(a.barcode, None)], user=technician, dry_run=True)
        assert result.outcomes[0].target.label == f"{box.barcode} A1"

    def test_refusals_name_the_tube_and_the_position(self, technician):
        tubes = rack(6)
        box = tubes[0].box
        small = BoxFactory(rows=2, columns=2)
        aliquots_check_out(codes=[t.barcode for t in tubes[:5]], user=technician, reason="bench")
        kept_for = tubes[4]
        PositionReservation.objects.create(
            box=small, row=1, column=1, aliquot_id=kept_for.pk, reason="R-3"
        )
        blocker = AliquotFactory(box=box, row=1, column=1)  # takes tubes[0]'s last position
        result = aliquots_check_in(
            placements=[
                (tubes[0].barcode, None),
                (tubes[1].barcode, Position(small, 3, 1)),
                (tubes[2].barcode, Position(small, 1, 1)),
                (tubes[3].barcode, Position(small, 2, 2)),
                (tubes[4].barcode, Position(small, 2, 2)),
                (tubes[5].barcode, Position(small, 2, 1)),
            ],
            user=technician,
        )
        messages = [o.message for o in result.outcomes]
        assert messages[0] == (
            f"Aliquot {tubes[0].barcode}: {box.barcode} A1 already holds aliquot {blocker.barcode}"
        )
        assert (
            messages[1] == f"Aliquot {tubes[1].barcode}: C1 is outside box {small.barcode} (2 x 2)"
        )
        assert messages[2].startswith(f"Aliquot {tubes[2].barcode}: {small.barcode} A1 is kept")
        assert f"for aliquot {kept_for.barcode} (R-3)" in messages[2]
        assert result.outcomes[3].ok
        assert messages[4] == (
            f"Aliquot {tubes[4].barcode}: {small.barcode} B2 is already chosen for aliquot "
            f"{tubes[3].barcode} in this list"
        )
        assert messages[5] == f"Aliquot {tubes[5].barcode} is stored; it cannot be checked in"
        assert [o.ok for o in result.outcomes] == [False, False, False, True, False, False]
        assert state(tubes[3]) == (STORED, small.pk, 2, 2)
        assert state(tubes[4])[0] == OUT

    def test_a_tube_with_no_known_position_is_refused(self, technician):
        tube = AliquotFactory(status=OUT, box=None, row=None, column=None)
        result = aliquots_check_in(placements=[(tube.barcode, None)], user=technician)
        assert result.outcomes[0].message == (
            f"Aliquot {tube.barcode} has no kept or last position; scan the box to put it in"
        )

    def test_the_tube_itself_may_take_its_kept_position(self, technician):
        (a,) = rack(1)
        box = a.box
        aliquots_check_out(codes=[a.barcode], user=technician, reason="R")
        PositionReservation.objects.create(box=box, row=1, column=1, aliquot_id=a.pk, reason="R")
        result = aliquots_check_in(placements=[(a.barcode, Position(box, 1, 1))], user=technician)
        assert result.outcomes[0].ok and not PositionReservation.objects.exists()


class TestMove:
    def test_moves_log_from_and_to(self, technician):
        a, b = rack(2)
        target = BoxFactory()
        result = aliquots_move(
            placements=[(a.barcode, Position(target, 1, 1)), (b.barcode, Position(target, 1, 2))],
            user=technician,
            reason="consolidate",
        )
        assert result.outcomes[0].message == (
            f"Aliquot {a.barcode} moved from {a.box.barcode} A1 to {target.barcode} A1"
        )
        assert state(a) == (STORED, target.pk, 1, 1) and state(b) == (STORED, target.pk, 1, 2)
        moved = events("move").order_by("id")
        assert [(e.from_column, e.to_box_id, e.to_column) for e in moved] == [
            (1, target.pk, 1),
            (2, target.pk, 2),
        ]

    def test_no_swap_and_no_move_in_place(self, technician):
        a, b = rack(2)
        box = a.box
        result = aliquots_move(
            placements=[
                (a.barcode, Position(box, 1, 2)),
                (b.barcode, Position(box, 1, 1)),
            ],
            user=technician,
            reason="swap",
        )
        assert [o.ok for o in result.outcomes] == [False, False]
        assert "which this list moves away" in result.outcomes[0].message
        assert f"move {b.barcode} first" in result.outcomes[0].message
        result = aliquots_move(
            placements=[(a.barcode, Position(box, 1, 1))], user=technician, reason="noop"
        )
        assert result.outcomes[0].message == f"Aliquot {a.barcode} is already at {box.barcode} A1"
        assert not events().exists()

    def test_a_move_needs_a_target_and_a_reason(self, technician):
        (a,) = rack(1)
        with pytest.raises(ValidationError) as caught:
            aliquots_move(placements=[(a.barcode, None)], user=technician, reason="x")
        assert "placements" in caught.value.message_dict
        with pytest.raises(ValidationError) as caught:
            aliquots_move(
                placements=[(a.barcode, Position(a.box, 2, 2))], user=technician, reason=""
            )
        assert "reason" in caught.value.message_dict


def count_queries(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured)


class TestConstantQueries:
    """A rack of 96 costs the queries of one tube, for every action (the figures are
    read, not assumed: the same call on 1 and on 96 tubes)."""

    def measure(self, technician, count):
        draw = SerumDrawFactory()
        tubes = rack(count, draw=draw)
        codes = [t.barcode for t in tubes]
        target = BoxFactory(rows=8, columns=12)
        moves = [(t.barcode, Position(target, t.row, t.column)) for t in tubes]
        figures = {
            "move": count_queries(
                lambda: aliquots_move(placements=moves, user=technician, reason="m")
            ),
            "check_out": count_queries(
                lambda: aliquots_check_out(codes=codes, user=technician, reason="o")
            ),
            "check_in_last": count_queries(
                lambda: aliquots_check_in(placements=[(c, None) for c in codes], user=technician)
            ),
        }
        aliquots_check_out(codes=codes, user=technician, reason="o")
        elsewhere = BoxFactory(rows=8, columns=12)
        placed = [(t.barcode, Position(elsewhere, t.row, t.column)) for t in tubes]
        figures["check_in"] = count_queries(
            lambda: aliquots_check_in(placements=placed, user=technician)
        )
        figures["preview"] = count_queries(
            lambda: aliquots_discard(codes=codes, user=technician, reason="d", dry_run=True)
        )
        figures["discard"] = count_queries(
            lambda: aliquots_discard(codes=codes, user=technician, reason="d")
        )
        assert Aliquot.objects.filter(pk__in=[t.pk for t in tubes], status=DISCARDED).count() == (
            count
        )
        assert events().filter(aliquot__in=tubes).count() == 6 * count
        return figures

    def test_96_tubes_cost_the_queries_of_one(self, technician):
        one = self.measure(technician, 1)
        rack_of_96 = self.measure(technician, 96)
        assert rack_of_96 == one
        # The test's savepoint and its release, the lock, kept and last positions, boxes,
        # occupancy, kept places, the update's savepoint, update, history and release,
        # the released reservations, chain heads, insert: 15 at most.
        assert one["check_in_last"] == 15 and max(one.values()) == 15, one


@pytest.mark.postgres
def test_the_tubes_are_locked_in_pk_order(technician):
    tubes = rack(3)
    with CaptureQueriesContext(connection) as captured:
        aliquots_check_out(codes=[t.barcode for t in reversed(tubes)], user=technician, reason="r")
    (lock,) = [q["sql"] for q in captured.captured_queries if "FOR UPDATE" in q["sql"]]
    assert lock.split("ORDER BY")[1].strip().startswith('"biobank_aliquot"."id" ASC'), lock


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_list_waits_for_a_tube_another_transaction_holds_then_reports_it():
    """Deterministic: this connection holds the second tube's row lock and checks it out;
    the list (on its own connection) has locked the first and waits on the second (seen
    in pg_stat_activity); once this commits, the list finds the second tube out and does the
    first alone."""
    user = UserFactory(username="racer")
    first, second = rack(2)
    outcome = {}

    def the_list():
        try:
            outcome["result"] = aliquots_check_out(
                codes=[second.barcode, first.barcode], user=user, reason="list"
            )
        except Exception as error:  # noqa: BLE001 - the outcome is what the test checks
            outcome["result"] = error
        finally:
            close_old_connections()
            connection.close()

    with transaction.atomic():
        Aliquot.objects.select_for_update().get(pk=second.pk)
        worker = threading.Thread(target=the_list)
        worker.start()
        deadline = time.monotonic() + 20
        with connection.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # fresh within a transaction
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.02)
            else:
                pytest.fail(f"the list never waited for the lock: {outcome}")
        aliquot_check_out(aliquot=second, user=user, reason="by hand")
    worker.join(timeout=30)
    result = outcome["result"]
    assert not isinstance(result, Exception), result
    assert [o.ok for o in result.outcomes] == [False, True]
    assert result.outcomes[0].message.endswith("is checked out; it cannot be checked out")
    assert StorageEvent.objects.filter(aliquot=second, kind="check_out").count() == 1
    assert Aliquot.objects.get(pk=first.pk).status == OUT
