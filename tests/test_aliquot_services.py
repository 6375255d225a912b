"""Custody rules: every change of place, state or volume goes through a service,
is logged, and a refused change leaves nothing behind."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from biobank.models import Aliquot, ExosomeIsolationBatch, StorageEvent
from biobank.services.aliquots import (
    Position,
    aliquot_check_in,
    aliquot_check_out,
    aliquot_consume,
    aliquot_discard,
    aliquot_move,
    aliquot_thaw,
    aliquots_create,
)
from biobank.services.processing import exosome_isolation_batch_record
from biobank.services.storage import temperature_excursion_record

from .factories import AliquotFactory, BoxFactory, SerumDrawFactory

pytestmark = pytest.mark.django_db


def kinds(aliquot):
    return list(aliquot.events.order_by("at", "id").values_list("kind", flat=True))


class TestAliquoting:
    def test_cut_and_place_with_generated_barcodes(self, technician):
        draw = SerumDrawFactory(serum_volume_ul=Decimal("1000"))
        box = BoxFactory()
        created = aliquots_create(
            draw=draw,
            volume_ul=250,
            user=technician,
            positions=[Position(box, 1, column) for column in (1, 2, 3, 4)],
        )
        assert [a.barcode for a in created] == [
            f"{draw.patient.study_id}-PRE-0{i}" for i in (1, 2, 3, 4)
        ]
        assert sorted(Aliquot.objects.filter(box=box).values_list("column", flat=True)) == [
            1,
            2,
            3,
            4,
        ]
        assert StorageEvent.objects.filter(kind="check_in", user=technician).count() == 4

    def test_more_serum_than_the_draw_holds_is_refused(self, technician):
        draw = SerumDrawFactory(serum_volume_ul=Decimal("500"))
        box = BoxFactory()
        with pytest.raises(ValidationError) as caught:
            aliquots_create(
                draw=draw,
                volume_ul=250,
                user=technician,
                positions=[Position(box, 1, c) for c in (1, 2, 3)],
            )
        assert "volume_ul" in caught.value.message_dict
        assert not Aliquot.objects.exists() and not StorageEvent.objects.exists()

    def test_taken_position_and_duplicate_barcode_are_refused(self, technician):
        taken = AliquotFactory(row=1, column=1)
        draw = SerumDrawFactory()
        with pytest.raises(ValidationError) as caught:
            aliquots_create(
                draw=draw, volume_ul=100, user=technician, positions=[Position(taken.box, 1, 1)]
            )
        assert "already holds" in caught.value.message_dict["position"][0]
        with pytest.raises(ValidationError) as caught:
            aliquots_create(
                draw=draw,
                volume_ul=100,
                user=technician,
                positions=[Position(taken.box, 2, 2)],
                barcodes=[taken.barcode],
            )
        assert "barcodes" in caught.value.message_dict

    def test_position_outside_the_box(self, technician):
        box = BoxFactory(rows=9, columns=9)
        with pytest.raises(ValidationError) as caught:
            aliquots_create(
                draw=SerumDrawFactory(),
                volume_ul=100,
                user=technician,
                positions=[Position(box, 10, 1)],
            )
        assert "outside box" in caught.value.message_dict["position"][0]


class TestCustody:
    def test_check_out_and_back_in_is_logged_with_from_and_to(self, technician):
        aliquot = AliquotFactory(row=3, column=4)
        box = aliquot.box
        aliquot = aliquot_check_out(aliquot=aliquot, user=technician, reason="extraction")
        assert aliquot.status == "out" and aliquot.box is None
        aliquot = aliquot_check_in(aliquot=aliquot, position=Position(box, 5, 5), user=technician)
        assert (aliquot.status, aliquot.position) == ("stored", "E5")
        out_event, in_event = aliquot.events.order_by("id")
        assert (out_event.kind, out_event.from_box, out_event.from_row, out_event.from_column) == (
            "check_out",
            box,
            3,
            4,
        )
        assert (in_event.kind, in_event.to_box, in_event.to_row, in_event.to_column) == (
            "check_in",
            box,
            5,
            5,
        )
        assert in_event.user == technician

    def test_cannot_check_out_twice(self, technician):
        aliquot = aliquot_check_out(aliquot=AliquotFactory(), user=technician, reason="x")
        with pytest.raises(ValidationError) as caught:
            aliquot_check_out(aliquot=aliquot, user=technician, reason="x")
        assert "status" in caught.value.message_dict
        assert kinds(aliquot) == ["check_out"]

    def test_move_to_a_taken_position_changes_nothing(self, technician):
        first = AliquotFactory(row=1, column=1)
        second = AliquotFactory(box=first.box, row=1, column=2)
        with pytest.raises(ValidationError):
            aliquot_move(
                aliquot=second, position=Position(first.box, 1, 1), user=technician, reason="tidy"
            )
        second.refresh_from_db()
        assert second.position == "A2" and kinds(second) == []
        aliquot_move(
            aliquot=second, position=Position(first.box, 9, 9), user=technician, reason="tidy"
        )
        second.refresh_from_db()
        assert second.position == "I9" and kinds(second) == ["move"]

    def test_thaw_counts_cycles(self, technician):
        aliquot = AliquotFactory()
        aliquot_thaw(aliquot=aliquot, user=technician, reason="bench")
        aliquot = aliquot_thaw(aliquot=aliquot, user=technician, reason="bench")
        assert aliquot.freeze_thaw_count == 2 and kinds(aliquot) == ["thaw", "thaw"]

    def test_discard_needs_a_reason_and_frees_the_position(self, technician):
        aliquot = AliquotFactory()
        with pytest.raises(ValidationError):
            aliquot_discard(aliquot=aliquot, user=technician, reason=" ")
        aliquot = aliquot_discard(aliquot=aliquot, user=technician, reason="tube cracked")
        assert aliquot.status == "discarded" and aliquot.box is None
        with pytest.raises(ValidationError):
            aliquot_consume(aliquot=aliquot, volume_ul=10, user=technician, reason="x")

    def test_consume_to_zero_marks_used_up(self, technician):
        aliquot = AliquotFactory(initial_volume_ul=Decimal("100"))
        aliquot = aliquot_consume(aliquot=aliquot, volume_ul=60, user=technician, reason="assay")
        assert aliquot.volume_ul == 40 and aliquot.status == "stored"
        with pytest.raises(ValidationError) as caught:
            aliquot_consume(aliquot=aliquot, volume_ul=41, user=technician, reason="assay")
        assert "holds 40.0 µl" in caught.value.message_dict["volume_ul"][0]
        aliquot = aliquot_consume(aliquot=aliquot, volume_ul=40, user=technician, reason="assay")
        assert aliquot.volume_ul == 0 and aliquot.status == "used_up" and aliquot.box is None
        assert [e.volume_change_ul for e in aliquot.events.order_by("id")] == [
            Decimal("-60"),
            Decimal("-40"),
        ]

    def test_excursion_is_logged_on_every_aliquot_inside(self, technician):
        inside = AliquotFactory()
        elsewhere = AliquotFactory()
        excursion = temperature_excursion_record(
            freezer=inside.box.rack.freezer,
            started_at=timezone.now(),
            peak_temperature_c=-52,
            user=technician,
        )
        assert list(excursion.affected_aliquots.all()) == [inside]
        assert kinds(inside) == ["excursion"] and kinds(elsewhere) == []


class TestExtractionBatch:
    def test_batch_consumes_each_aliquot(self, technician):
        aliquots = [AliquotFactory(initial_volume_ul=Decimal("300")) for _ in range(3)]
        batch = exosome_isolation_batch_record(
            code="EXO-1",
            performed_on=dt.date(2014, 1, 1),
            exoquick_lot="L1",
            spike_in_lot="S1",
            aliquots=aliquots,
            user=technician,
        )
        assert batch.serum_volume_ul == 250 and batch.exoquick_volume_ul == 63
        assert batch.isolations.count() == 3
        assert set(Aliquot.objects.values_list("volume_ul", flat=True)) == {Decimal("50")}

    def test_one_short_aliquot_refuses_the_whole_batch(self, technician):
        enough = AliquotFactory(initial_volume_ul=Decimal("300"))
        short = AliquotFactory(initial_volume_ul=Decimal("100"))
        with pytest.raises(ValidationError) as caught:
            exosome_isolation_batch_record(
                code="EXO-2",
                performed_on=dt.date(2014, 1, 1),
                exoquick_lot="L1",
                spike_in_lot="S1",
                aliquots=[enough, short],
                user=technician,
            )
        assert short.barcode in caught.value.message_dict["volume_ul"][0]
        enough.refresh_from_db()
        assert enough.volume_ul == 300
        assert not ExosomeIsolationBatch.objects.exists() and not StorageEvent.objects.exists()
