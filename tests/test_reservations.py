"""A position kept for a tube out on a retrieval: no other tube may take it, the tube
itself may, and its return (or its end) frees it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from biobank.models import PositionReservation
from biobank.services.aliquots import (
    Position,
    aliquot_check_in,
    aliquot_check_out,
    aliquot_discard,
    aliquot_move,
    aliquots_create,
)

from .factories import AliquotFactory, SerumDrawFactory

pytestmark = pytest.mark.django_db


def keep_place(tube, technician):
    box, row, column = tube.box, tube.row, tube.column
    tube = aliquot_check_out(aliquot=tube, user=technician, reason="retrieval R-1")
    PositionReservation.objects.create(
        box=box, row=row, column=column, aliquot=tube, reason="retrieval R-1"
    )
    return tube, Position(box, row, column)


def test_a_kept_position_is_refused_to_every_other_placement(technician):
    tube, kept = keep_place(AliquotFactory(row=2, column=3), technician)
    other = AliquotFactory(box=kept.box, row=1, column=1)
    with pytest.raises(ValidationError) as caught:
        aliquot_move(aliquot=other, position=kept, user=technician, reason="tidy")
    message = caught.value.message_dict["position"][0]
    assert f"kept for aliquot {tube.barcode}" in message and "retrieval R-1" in message
    out = aliquot_check_out(aliquot=other, user=technician, reason="bench")
    with pytest.raises(ValidationError):
        aliquot_check_in(aliquot=out, position=kept, user=technician)
    with pytest.raises(ValidationError):
        aliquots_create(draw=SerumDrawFactory(), volume_ul=100, user=technician, positions=[kept])
    assert PositionReservation.objects.filter(aliquot=tube).exists()


def test_the_tube_returns_to_its_kept_position_and_frees_it(technician):
    tube, kept = keep_place(AliquotFactory(row=2, column=3), technician)
    tube = aliquot_check_in(aliquot=tube, position=kept, user=technician)
    assert (tube.box_id, tube.row, tube.column) == (kept.box.pk, 2, 3)
    assert not PositionReservation.objects.exists()


def test_a_return_elsewhere_or_a_discard_frees_the_position(technician):
    tube, kept = keep_place(AliquotFactory(row=2, column=3), technician)
    aliquot_check_in(aliquot=tube, position=Position(kept.box, 5, 5), user=technician)
    assert not PositionReservation.objects.exists()
    second, _ = keep_place(AliquotFactory(row=4, column=4), technician)
    aliquot_discard(aliquot=second, user=technician, reason="broken tube")
    assert not PositionReservation.objects.exists()
