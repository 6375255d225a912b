"""Time the sample, draw and patient list pages (issue 15) at the demo cohort's size,
beside the API's list of the same query in the same process.

Seeds the demo cohort (default 10,000 patients: 20,000 draws, 80,000 tubes) in a
database of its own (default: a scratch SQLite file only this bench uses), logs a
curator in with Django's test client (the whole middleware stack, templates rendered)
and reads each page `--repeat` times; prints the median, the queries a page runs, and
the API's answer to the same query string (/api/v1/...; the aliquot list is
cursor-paginated there, no COUNT). Then streams the whole sample CSV export, beside
the same rows read from the selector alone (no CSV, no HTTP).

    .venv/bin/python bench/lists.py [--patients 10000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

from _django import prepare  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

CASES = [
    # (page, API peer)
    ("/patients/", "/api/v1/patients/"),
    ("/patients/?page=150", "/api/v1/patients/?page=150"),
    ("/patients/?withdrawn=false&age_min=70&ordering=-age_at_enrolment", None),
    ("/patients/?ordering=-n_stored", None),
    ("/draws/", "/api/v1/draws/"),
    ("/draws/?page=300", "/api/v1/draws/?page=300"),
    (
        "/draws/?timepoint=POST&ordering=-drawn_at",
        "/api/v1/draws/?timepoint=POST&ordering=-drawn_at",
    ),
    ("/samples/", "/api/v1/aliquots/"),
    ("/samples/?page=1500", None),
    ("/samples/?status=stored&ordering=-volume_ul", None),
    ("/samples/?barcode=0042", "/api/v1/aliquots/?barcode=0042"),
    ("/samples/?patient=DEMO-00042", "/api/v1/aliquots/?patient=DEMO-00042"),
]


def timed(client: Client, url: str, repeat: int) -> tuple[float, int]:
    client.get(url)  # warm-up
    times = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times) * 1000, len(queries)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    prepare(args.patients)

    from biobank.models import Aliquot, Patient, SerumDraw
    from tests.factories import UserFactory

    print(
        f"{Patient.objects.count():,} patients, {SerumDraw.objects.count():,} draws, "
        f"{Aliquot.objects.count():,} tubes"
    )
    user = UserFactory(username="bench-lists", groups=["curator"])
    client = Client()
    client.force_login(user)
    print(f"{'page':<68} {'ms':>7} {'queries':>7}   API peer ms")
    for page, peer in CASES:
        ms, queries = timed(client, page, args.repeat)
        peer_ms = f"{timed(client, peer, args.repeat)[0]:7.1f}" if peer else "      -"
        print(f"{page:<68} {ms:7.1f} {queries:7d}   {peer_ms}")

    from biobank.selectors.samples import ALIQUOT_LIST_KEYS, aliquot_rows

    started = time.perf_counter()
    read = sum(1 for _ in aliquot_rows(ALIQUOT_LIST_KEYS).order_by("barcode", "pk").iterator(2000))
    seconds = time.perf_counter() - started
    print(
        f"peer, the same rows read alone: {read:,} in {seconds:.2f} s ({read / seconds:,.0f} rows/s)"
    )
    started = time.perf_counter()
    response = client.get("/samples/export.csv")
    lines = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1
    seconds = time.perf_counter() - started
    print(f"/samples/export.csv: {lines:,} rows in {seconds:.2f} s ({lines / seconds:,.0f} rows/s)")


if __name__ == "__main__":
    main()
