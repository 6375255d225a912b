"""The plate import's bulk write (biobank.services.bulk_history): the wells and their
history in two statements, equal to what simple-history's bulk_update_with_history
writes, and the re-analysis it triggers queued, never computed inside the confirm."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from simple_history.utils import bulk_update_with_history

from analysis.models import AnalysisPlan, AnalysisRun
from biobank.models import PlateImport, Well, WellImportChange
from biobank.services.bulk_history import bulk_update_with_history_sql
from biobank.services.plate_import import WRITTEN_FIELDS, plate_import_confirm
from biobank.services.plate_import_revert import plate_import_revert
from biobank.services.plates import plate_create, plate_layout

from .factories import ReverseTranscriptionFactory, study_assays
from .test_plates import export_for
from .test_triggers import EXPRESSION

WHEN = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
# What a history row says besides the tracked fields and its own id.
HISTORY = ["history_date", "history_type", "history_change_reason", "history_user_id"]
TRACKED = [
    f.attname for f in Well.history.model.tracked_fields if f.attname not in {"id", "plate_id"}
]


def plate(barcode: str, samples, size: int = 96):
    made = plate_create(barcode=barcode, plate_format=size)
    plate_layout(plate=made, samples=samples, assays=study_assays())
    return made


def edit(wells: list[Well], user, import_) -> list[Well]:
    """Every kind of value the import writes: a Cq, no Cq, the import, a cleared decision."""
    for index, well in enumerate(wells):
        well.cq = None if index % 7 == 0 else 20.5 + index / 100
        well.imported_from = import_
        well.excluded = [None, True, False][index % 3]
        well.exclusion_reason = "" if well.excluded is None else "bubble"
        well.excluded_by = user if well.excluded is not None else None
        well.excluded_at = WHEN if well.excluded is not None else None
    return wells


def history_of(wells: list[Well]) -> list[tuple]:
    by_place = {}
    for row in Well.history.filter(id__in=[w.pk for w in wells], history_type="~"):
        by_place[(row.row, row.column, row.assay_id)] = tuple(
            getattr(row, name) for name in [*TRACKED, *HISTORY]
        )
    return [by_place[key] for key in sorted(by_place)]


def table_of(wells: list[Well]) -> list[tuple]:
    rows = Well.objects.filter(pk__in=[w.pk for w in wells]).order_by("row", "column", "assay")
    return [tuple(getattr(row, name) for name in TRACKED) for row in rows]


@pytest.mark.django_db
def test_the_two_statements_write_what_simple_history_writes(technician):
    samples = [ReverseTranscriptionFactory() for _ in range(10)]
    slow_plate, fast_plate = plate("SLOW", samples), plate("FAST", samples)
    record = PlateImport.objects.create(
        plate=fast_plate, original_name="x.txt", sha256="0" * 64, size_bytes=1
    )
    slow = edit(list(slow_plate.wells.order_by("pk")), technician, record)
    fast = edit(list(fast_plate.wells.order_by("pk")), technician, record)
    bulk_update_with_history(
        slow,
        Well,
        WRITTEN_FIELDS,
        default_user=technician,
        default_change_reason="import #1 of x.txt",
        default_date=WHEN,
    )
    with CaptureQueriesContext(connection) as queries:
        updated = bulk_update_with_history_sql(
            objs=fast,
            model=Well,
            fields=WRITTEN_FIELDS,
            user=technician,
            change_reason="import #1 of x.txt",
            date=WHEN,
        )
    assert updated == len(fast) == 93
    assert len(queries) == 2  # the update and the history, whatever the number of wells
    assert table_of(fast) == table_of(slow)
    assert history_of(fast) == history_of(slow)
    assert history_of(fast)[0][-4:] == (WHEN, "~", "import #1 of x.txt", technician.pk)


@pytest.mark.django_db
def test_a_96_and_a_384_well_confirm_cost_the_same_queries_and_keep_history(technician):
    counts = {}
    for size, n_samples in ((96, 10), (384, 42)):
        made = plate(f"Q-{size}", [ReverseTranscriptionFactory() for _ in range(n_samples)], size)
        with CaptureQueriesContext(connection) as queries:
            record = plate_import_confirm(
                plate=made, data=export_for(made), filename=f"{size}.txt", user=technician
            )
        counts[size] = len(queries)
        written = Well.objects.filter(imported_from=record)
        assert written.count() == record.wells_filled > 0
        assert WellImportChange.objects.filter(plate_import=record).count() == written.count()
        history = Well.history.filter(plate_id=made.pk, history_type="~")
        assert history.count() == written.count()
        assert set(history.values_list("history_change_reason", flat=True)) == {
            f"import #{record.pk} of {size}.txt"
        }
        assert set(history.values_list("history_user_id", flat=True)) == {technician.pk}
        assert set(history.values_list("imported_from_id", flat=True)) == {record.pk}
    assert counts[96] == counts[384]


@pytest.mark.django_db
def test_a_revert_after_the_bulk_write_restores_every_value_and_its_history(technician, curator):
    made = plate("REV", [ReverseTranscriptionFactory() for _ in range(10)])
    excluded = made.wells.exclude(kind="ntc").order_by("pk").first()
    Well.objects.filter(pk=excluded.pk).update(
        cq=31.0, excluded=True, exclusion_reason="bubble", excluded_by=curator, excluded_at=WHEN
    )
    before = {w.pk: tuple(getattr(w, n) for n in TRACKED) for w in made.wells.all()}
    record = plate_import_confirm(
        plate=made,
        data=export_for(made),
        filename="r.txt",
        user=technician,
        replace=True,
        reason="re-read",
    )
    assert Well.objects.get(pk=excluded.pk).excluded is None  # the decision was about 31.0
    plate_import_revert(plate_import=record, user=curator, reason="wrong run")
    after = {w.pk: tuple(getattr(w, n) for n in TRACKED) for w in made.wells.all()}
    assert after == before
    last = Well.history.filter(id=excluded.pk).order_by("-history_id").first()
    assert (last.cq, last.excluded, last.history_user_id) == (31.0, True, curator.pk)
    assert last.history_change_reason == f"revert of import #{record.pk}: wrong run"


@pytest.fixture
def held_runs(monkeypatch):
    """Runs block in their computation until `release` is set. (analysis.services imports
    run_plan from analysis.engine inside the run, to keep start-up free of the chain.)"""
    from analysis import engine

    real = engine.run_plan
    gate = type("Gate", (), {})()
    gate.started, gate.release = threading.Event(), threading.Event()

    def run_plan(table, spec, **options):
        gate.started.set()
        assert gate.release.wait(60), "the test never released the run"
        return real(table, spec, **options)

    monkeypatch.setattr(engine, "run_plan", run_plan)
    yield gate
    gate.release.set()


def test_the_confirm_returns_with_its_reanalysis_queued_not_run(
    transactional_db, background_reanalysis, held_runs, technician
):
    """The embedded default (no broker, background runner): the confirm commits and
    returns while the run it triggered waits or computes in the runner's thread."""
    from analysis import tasks

    call_command("seed_demo", patients=12, stdout=io.StringIO())
    AnalysisPlan.objects.update(is_active=False)
    made = plate("BG", [ReverseTranscriptionFactory() for _ in range(10)])
    plan = AnalysisPlan.objects.create(name="cq", title="cq", spec=EXPRESSION)
    plate_import_confirm(plate=made, data=export_for(made), filename="bg.txt", user=technician)
    (run,) = AnalysisRun.objects.filter(plan=plan)
    assert run.status in ("queued", "running")  # returned before the run was computed
    assert run.parameters["reasons"] == {f"plate {made.barcode} results imported": 1}
    assert held_runs.started.wait(30)
    held_runs.release.set()
    assert tasks.wait_for_background_runs(timeout=60)
    run.refresh_from_db()
    assert run.status in ("succeeded", "unchanged"), run.error
