"""A box shrinks while a tube is being put into the row it loses, on real concurrent
PostgreSQL connections: the placement waits for the resize and then finds its
position outside the box, so no tube is ever left beyond the box's size."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection, transaction

from biobank.models import Aliquot
from biobank.services.aliquots import Position, aliquot_check_in
from biobank.services.storage import box_update

from .factories import AliquotFactory, BoxFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def in_thread(call, outcomes, key):
    def worker():
        try:
            outcomes[key] = call()
        except Exception as error:  # noqa: BLE001 - the outcome is what the test checks
            outcomes[key] = error
        finally:
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    return thread


def test_a_check_in_waits_for_a_resize_and_is_refused_outside_the_new_size():
    box = BoxFactory(rows=9, columns=9)
    tube = AliquotFactory(status=Aliquot.Status.OUT, box=None, row=None, column=None)
    user = UserFactory(username="racer")
    resized, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def resize():
        with transaction.atomic():
            box_update(box=box, rows=8)
            resized.set()
            release.wait(timeout=10)  # hold the resize open while the check-in starts

    def check_in():
        return aliquot_check_in(
            aliquot=tube, position=Position(box=box, row=9, column=9), user=user
        )

    resizer = in_thread(resize, outcomes, "resize")
    assert resized.wait(timeout=10)
    placer = in_thread(check_in, outcomes, "check_in")
    time.sleep(0.5)  # the check-in is now waiting on the box's lock
    assert placer.is_alive(), outcomes
    release.set()
    resizer.join(timeout=30)
    placer.join(timeout=30)

    assert outcomes["resize"] is None  # committed
    refused = outcomes["check_in"]
    assert isinstance(refused, ValidationError), refused
    assert "I9 is outside box" in " ".join(refused.messages)
    tube.refresh_from_db()
    box.refresh_from_db()
    assert (box.rows, tube.status, tube.box_id) == (8, Aliquot.Status.OUT, None)
