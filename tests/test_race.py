"""Two technicians take the last 100 µl at the same moment, on real concurrent
PostgreSQL connections: one succeeds, the other gets a clear error, and the
volume ends at zero, never below."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection

from biobank.models import Aliquot, StorageEvent
from biobank.services.aliquots import aliquot_check_out, aliquot_consume

from .factories import AliquotFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(*calls):
    """Start every call on its own thread (and so its own database connection) at
    the same instant; return what each returned or raised."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait()
            outcomes[index] = call()
        except Exception as error:  # noqa: BLE001 - the outcome is what the test checks
            outcomes[index] = error
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.parametrize("attempt", range(5))
def test_two_technicians_take_the_last_100_ul(attempt):
    aliquot = AliquotFactory(initial_volume_ul=Decimal("250"), volume_ul=Decimal("100"))
    alice, bob = UserFactory(username=f"alice{attempt}"), UserFactory(username=f"bob{attempt}")

    outcomes = run_concurrently(
        lambda: aliquot_consume(aliquot=aliquot, volume_ul=100, user=alice, reason="extraction"),
        lambda: aliquot_consume(aliquot=aliquot, volume_ul=100, user=bob, reason="extraction"),
    )

    errors = [o for o in outcomes if isinstance(o, ValidationError)]
    successes = [o for o in outcomes if isinstance(o, Aliquot)]
    assert len(successes) == 1 and len(errors) == 1, outcomes
    # The loser waited on the row lock, then found the tube used up.
    message = " ".join(errors[0].messages)
    assert aliquot.barcode in message and "used up" in message
    aliquot.refresh_from_db()
    assert aliquot.volume_ul == 0 and aliquot.status == Aliquot.Status.USED_UP
    assert StorageEvent.objects.filter(aliquot=aliquot, kind="consume").count() == 1


def test_two_check_outs_of_one_tube():
    aliquot = AliquotFactory()
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    outcomes = run_concurrently(
        lambda: aliquot_check_out(aliquot=aliquot, user=alice, reason="a"),
        lambda: aliquot_check_out(aliquot=aliquot, user=bob, reason="b"),
    )
    assert sum(isinstance(o, Aliquot) for o in outcomes) == 1
    assert sum(isinstance(o, ValidationError) for o in outcomes) == 1
    assert StorageEvent.objects.filter(aliquot=aliquot, kind="check_out").count() == 1
