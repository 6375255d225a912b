"""NetBox-style test mixins for API endpoints.

`ListQueryCountMixin` pins the number of queries a list endpoint runs, and checks
that it is the same for a page of one record and for a page of many: a serializer
that reads a relation the queryset did not select (an N+1) makes the second page
cost more queries and fails the test. Subclass it once per list endpoint with
`basename` and `queries` (tests/api/test_queries.py).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analysis.models import AnalysisPlan

from .helpers import build_world, client_for


def populate(user, count: int) -> None:
    """`count` more records of every kind (each world is a patient with its whole chain)."""
    for index in range(count):
        build_world(
            user,
            study_id=f"QC-{index:03d}",
            identity={
                "full_name": f"Query Count {index}",
                "hospital_number": f"QC-H{index:04d}",
                "date_of_birth": "1950-01-01",
            },
        )
        AnalysisPlan.objects.create(
            name=f"plan-{index}", title=f"Plan {index}", spec={"analyses": []}
        )


@pytest.mark.django_db
class ListQueryCountMixin:
    basename: str
    queries: int  # the pinned count for a page, whatever its size
    role_fixture = "curator"
    worlds = 3

    def count_queries(self, client, page_size: int) -> tuple[int, int]:
        url = reverse(f"api:{self.basename}-list")
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, {"page_size": page_size})
        assert response.status_code == 200, response.content[:500]
        return len(captured), len(response.json()["results"])

    def test_list_runs_a_constant_number_of_queries(self, request):
        user = request.getfixturevalue(self.role_fixture)
        populate(user, self.worlds)
        client = client_for(user)
        client.get(reverse(f"api:{self.basename}-list"))  # warm up (content types, etc.)
        one, shown_one = self.count_queries(client, 1)
        many, shown_many = self.count_queries(client, 100)
        assert shown_one == 1 and shown_many > 1, "the endpoint needs more than one record"
        assert one == many, f"{self.basename}: {one} queries for 1 row, {many} for {shown_many}"
        assert many == self.queries, f"{self.basename}: {many} queries, pinned {self.queries}"
