"""The database itself refuses broken rows, even when the ORM is bypassed."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from biobank.models import Aliquot

from .factories import AliquotFactory, BoxFactory, SerumDrawFactory

INSERT_ALIQUOT = f"""
    INSERT INTO {Aliquot._meta.db_table}
        (barcode, draw_id, initial_volume_ul, volume_ul, freeze_thaw_count, status,
         box_id, "row", "column", created_at)
    VALUES (%s, %s, %s, %s, 0, %s, %s, %s, %s, %s)
"""


def raw_insert(*, barcode, draw_id, volume, box_id, row, column, status="stored", initial=250):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            INSERT_ALIQUOT,
            [barcode, draw_id, initial, volume, status, box_id, row, column, timezone.now()],
        )


@pytest.mark.django_db
class TestRawSqlIsRefused:
    def test_a_valid_row_goes_in(self):
        box = BoxFactory()
        raw_insert(
            barcode="OK-1",
            draw_id=SerumDrawFactory().pk,
            volume=100,
            box_id=box.pk,
            row=2,
            column=3,
        )
        assert Aliquot.objects.get(barcode="OK-1").position == "B3"

    def test_second_aliquot_into_a_taken_position(self):
        taken = AliquotFactory(row=4, column=5)
        with pytest.raises(IntegrityError):
            raw_insert(
                barcode="SECOND",
                draw_id=taken.draw_id,
                volume=100,
                box_id=taken.box_id,
                row=4,
                column=5,
            )
        assert Aliquot.objects.filter(box=taken.box, row=4, column=5).count() == 1

    def test_negative_volume(self):
        box = BoxFactory()
        with pytest.raises(IntegrityError):
            raw_insert(
                barcode="NEG",
                draw_id=SerumDrawFactory().pk,
                volume=-1,
                box_id=box.pk,
                row=1,
                column=1,
            )
        assert not Aliquot.objects.filter(barcode="NEG").exists()

    def test_duplicate_barcode(self):
        existing = AliquotFactory()
        other_box = BoxFactory()
        with pytest.raises(IntegrityError):
            raw_insert(
                barcode=existing.barcode,
                draw_id=existing.draw_id,
                volume=10,
                box_id=other_box.pk,
                row=1,
                column=1,
            )

    def test_volume_above_the_initial_volume(self):
        box = BoxFactory()
        with pytest.raises(IntegrityError):
            raw_insert(
                barcode="BIG",
                draw_id=SerumDrawFactory().pk,
                volume=300,
                initial=250,
                box_id=box.pk,
                row=1,
                column=1,
            )

    def test_stored_without_a_position(self):
        with pytest.raises(IntegrityError):
            raw_insert(
                barcode="LOST",
                draw_id=SerumDrawFactory().pk,
                volume=10,
                box_id=None,
                row=None,
                column=None,
            )

    def test_checked_out_tube_cannot_keep_a_position(self):
        box = BoxFactory()
        with pytest.raises(IntegrityError):
            raw_insert(
                barcode="HALF",
                draw_id=SerumDrawFactory().pk,
                volume=10,
                status="out",
                box_id=box.pk,
                row=1,
                column=1,
            )

    def test_update_below_zero_is_refused(self):
        aliquot = AliquotFactory()
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Aliquot._meta.db_table} SET volume_ul = -5 WHERE id = %s", [aliquot.pk]
            )
        aliquot.refresh_from_db()
        assert aliquot.volume_ul == 250

    def test_second_draw_for_the_same_timepoint(self):
        draw = SerumDrawFactory()
        with pytest.raises(IntegrityError), transaction.atomic():
            SerumDrawFactory(treatment=draw.treatment, timepoint=draw.timepoint)
