"""Running plans and importing cohorts: the writes of the analysis app.

`analysis_run_execute` is what the Celery task, the `analyse` command, the admin
and the report page's re-run button all end up calling.
"""

from __future__ import annotations

import io
import platform
import traceback
from functools import cache
from importlib.metadata import version
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from analysis.models import AnalysisPlan, AnalysisRun, CohortDataset

if TYPE_CHECKING:
    import pandas as pd

    from analysis.dictionary import DataDictionary

# The analysis chain (analysis.cohort, .dictionary, .plans, .engine: pandas, numpy,
# scipy, matplotlib) is imported inside the functions that read a cohort or run a
# plan, not here: this module is loaded in every process (the re-analysis triggers,
# the admin, the task module), and a process that only stores or shows runs must not
# pay for the statistics stack (issue 16; tests/test_startup.py).

LIBRARIES = ("pandas", "numpy", "scipy", "matplotlib", "django")


@cache
def library_versions() -> dict[str, str]:
    """The versions this process runs (read once: the modules loaded do not change when
    a package is upgraded on disk; each lookup costs ~20 ms of metadata reads)."""
    return {"python": platform.python_version(), **{name: version(name) for name in LIBRARIES}}


def load_cohort(*, dataset: CohortDataset | None = None) -> pd.DataFrame:
    return load_cohort_with_evidence(dataset=dataset)[0]


def load_cohort_with_evidence(*, dataset: CohortDataset | None = None) -> tuple[pd.DataFrame, dict]:
    """The table a run reads and the QC evidence behind its QC columns (none for a
    cohort brought from a file: its QC columns, if any, are all there is). A dataset is
    read through the dictionary it was imported with. The live cohort is read through
    its snapshot (biobank.selectors.cohort_cache): built once per version of the data,
    settings and code, never stale."""
    from analysis.cohort import read_cohort_csv, read_cohort_file
    from analysis.dictionary import DataDictionary

    if dataset is not None:
        if dataset.dictionary:
            stored = DataDictionary.from_dict(dataset.dictionary)
            return read_cohort_file(io.StringIO(dataset.csv), dictionary=stored).table, {}
        return read_cohort_csv(io.StringIO(dataset.csv)), {}  # imported before dictionaries
    from biobank.selectors.cohort_cache import cached_cohort_with_evidence  # the ORM side

    return cached_cohort_with_evidence()


def cohort_dictionary(*, dataset: CohortDataset | None, table: pd.DataFrame) -> DataDictionary:
    """What the columns a run reads mean: the dataset's dictionary, else the paper's
    (the live cohort, and a dataset imported before datasets had dictionaries: both are
    read in the paper's types)."""
    from analysis.cohort import paper_dictionary
    from analysis.dictionary import DataDictionary

    if dataset is not None and dataset.dictionary:
        return DataDictionary.from_dict(dataset.dictionary)
    return paper_dictionary(table.columns)


def input_fingerprint(table: pd.DataFrame, spec: dict) -> str:
    """Hash of exactly the rows and columns the plan reads: fingerprint(table[columns]).

    For the live cohort as load_cohort_with_evidence served it (unchanged), the value is
    the one memoised on its snapshot: a re-run with unchanged data costs a lookup."""
    from analysis.cohort import fingerprint
    from analysis.plans import columns_used
    from biobank.selectors.cohort_cache import served_fingerprint

    columns = [c for c in columns_used(spec, table.columns) if c in table.columns]
    memoised = served_fingerprint(table, columns)
    return memoised if memoised is not None else fingerprint(table[columns])


# What a previous run stores that a new run does not need to tell whether it is the same:
# a re-run with unchanged data compares fingerprints and specs only (issue 16: reading a
# 10,000-patient run's JSON took longer than the cached cohort).
RESULT_FIELDS = ("results", "rows", "figures", "figure_notes", "qc", "options", "dictionary", "diff")


def last_successful_run(plan: AnalysisPlan, dataset: CohortDataset | None) -> AnalysisRun | None:
    """The run a new one is compared with, its results deferred (read when used)."""
    return (
        AnalysisRun.objects.defer(*RESULT_FIELDS)
        .filter(plan=plan, dataset=dataset, status=AnalysisRun.Status.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .first()
    )


def analysis_run_create(
    *, plan: AnalysisPlan, trigger: str, user=None, dataset: CohortDataset | None = None
) -> AnalysisRun:
    return AnalysisRun.objects.create(
        plan=plan,
        dataset=dataset,
        trigger=trigger,
        requested_by=user if getattr(user, "is_authenticated", False) else None,
        spec=plan.spec,
    )


def _finish(run: AnalysisRun, **fields) -> AnalysisRun:
    for name, value in fields.items():
        setattr(run, name, value)
    run.finished_at = timezone.now()
    run.save()
    return run


def analysis_run_execute(*, run: AnalysisRun) -> AnalysisRun:
    """Compute a queued run and store what it found. Never raises for bad data or a bad
    plan: the error is stored on the run, which ends failed."""
    from analysis.cohort import CohortFormatError
    from analysis.engine import diff_rows, run_plan
    from analysis.plans import PlanError, validate_plan, with_survival_columns

    run.status, run.started_at, run.versions = (
        AnalysisRun.Status.RUNNING,
        timezone.now(),
        library_versions(),
    )
    run.save(update_fields=["status", "started_at", "versions"])
    try:
        table, evidence = load_cohort_with_evidence(dataset=run.dataset)
        dictionary = cohort_dictionary(dataset=run.dataset, table=table)
        spec = with_survival_columns(run.spec, dictionary)
        validate_plan(spec, table)  # an uncoded event column included (plans.py)
        run.fingerprint = input_fingerprint(table, spec)
        run.n_patients = len(table)
        last = last_successful_run(run.plan, run.dataset)
        if last is not None and last.fingerprint == run.fingerprint and last.spec == run.spec:
            return _finish(run, status=AnalysisRun.Status.UNCHANGED, same_as=last, previous=last)
        outcome = run_plan(table, spec, evidence=evidence, dictionary=dictionary)
        with transaction.atomic():
            return _finish(
                run,
                status=AnalysisRun.Status.SUCCEEDED,
                qc=outcome.qc,
                results=outcome.results,
                rows=outcome.rows,
                figures=outcome.figures,
                figure_notes=outcome.figure_notes,
                options=outcome.options,
                dictionary=outcome.dictionary,
                previous=last,
                diff=diff_rows(last.rows, outcome.rows) if last else {},
            )
    except PlanError as error:
        return _finish(
            run,
            status=AnalysisRun.Status.FAILED,
            error="The plan cannot run: " + "; ".join(error.problems),
        )
    except CohortFormatError as error:
        return _finish(
            run, status=AnalysisRun.Status.FAILED, error=f"The cohort cannot be read: {error}"
        )
    except Exception as error:  # noqa: BLE001 - stored on the run, for the curator to see
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        return _finish(
            run, status=AnalysisRun.Status.FAILED, error=f"{detail}\n\n{traceback.format_exc()}"
        )


def analysis_run(
    *, plan: AnalysisPlan, trigger: str, user=None, dataset: CohortDataset | None = None
) -> AnalysisRun:
    """Create and compute a run in this process."""
    return analysis_run_execute(
        run=analysis_run_create(plan=plan, trigger=trigger, user=user, dataset=dataset)
    )


@transaction.atomic
def cohort_dataset_import(
    *,
    name: str,
    stream,
    dictionary: DataDictionary | dict | None = None,
    confirm: bool = False,
    user=None,
    replace: bool = False,
) -> CohortDataset:
    """Store a cohort table from elsewhere with its data dictionary (analysis.dictionary):
    the one given (a companion JSON), else the one the file's header declares, else one
    inferred from the table, used only when `confirm`ed: DictionaryNotConfirmed carries
    it for the user to see. CohortFormatError names the column, line and value of
    anything that does not fit; nothing is stored then."""
    from analysis.cohort import (
        CohortFormatError,
        extra_columns,
        fingerprint,
        read_cohort_file,
        write_cohort_csv,
    )
    from analysis.dictionary import DictionaryNotConfirmed, dictionary_from_json

    existing = CohortDataset.objects.filter(name=name).first()
    if existing and not replace:
        raise CohortFormatError(
            f"a cohort named {name!r} exists; choose another name or replace it"
        )
    if isinstance(dictionary, dict):
        dictionary = dictionary_from_json(dictionary)
    cohort = read_cohort_file(stream, dictionary=dictionary)
    if cohort.dictionary.source == "inferred":
        if not confirm:
            raise DictionaryNotConfirmed(
                "the file declares no data dictionary; check the one inferred from the "
                "table, then confirm it or declare your own",
                dictionary=cohort.dictionary,
            )
        cohort.dictionary.source = "inferred and confirmed"
    table = cohort.table
    buffer = io.StringIO()
    write_cohort_csv(cohort.raw, buffer)  # the cells as given: read again through the dictionary
    values = dict(
        csv=buffer.getvalue(),
        fingerprint=fingerprint(table),
        rows=len(table),
        columns=list(table.columns),
        extra_columns=extra_columns(table),
        dictionary=cohort.dictionary.to_dict(),
        imported_by=user if getattr(user, "is_authenticated", False) else None,
    )
    if existing:
        for key, value in values.items():
            setattr(existing, key, value)
        existing.save()
        return existing
    return CohortDataset.objects.create(name=name, **values)
