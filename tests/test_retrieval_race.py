"""Two curators approve two requests that share a tube, at the same moment, on real
concurrent PostgreSQL connections: the tube goes to exactly one of them, and the other
request keeps the refusal that names the winner."""

from __future__ import annotations

import pytest

from biobank.models import RetrievalItem
from biobank.services.retrieval import request_approve, request_create

from .factories import AliquotFactory, BoxFactory, UserFactory
from .test_race import run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("attempt", range(3))
def test_a_shared_tube_is_approved_for_one_request_only(attempt):
    asker = UserFactory(username=f"asker{attempt}", groups=["technician"])
    curators = [UserFactory(username=f"cur{attempt}{i}", groups=["curator"]) for i in (1, 2)]
    box = BoxFactory()
    shared, own_a, own_b = (AliquotFactory(box=box, row=1, column=c) for c in (1, 2, 3))
    requests = [
        request_create(
            user=asker, purpose=f"study {i}", barcodes=[shared.barcode, own.barcode], submit=True
        )  # fmt: skip
        for i, own in enumerate((own_a, own_b))
    ]
    outcomes = run_concurrently(
        *[
            (lambda r=r, c=c: request_approve(request=r, user=c))
            for r, c in zip(requests, curators, strict=True)
        ]
    )
    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    items = RetrievalItem.objects.filter(aliquot=shared).select_related("request")
    assert sorted(item.status for item in items) == ["approved", "refused"]
    winner = next(item for item in items if item.status == "approved").request
    loser = next(item for item in items if item.status == "refused")
    assert loser.reasons == [f"already reserved for request {winner.code}"]
