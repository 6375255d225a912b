"""Query counts of every list endpoint, pinned (see ListQueryCountMixin). The count
covers the token lookup (1), the user's and groups' permissions (2), the COUNT (1),
the page's keys (1) and rows (1) (biobank.api.pagination), and any prefetch; the
large collections, cursor-paginated, run no COUNT and read their page at once."""

from __future__ import annotations

from biobank.api.urls import router

from .base import ListQueryCountMixin

BASE = 6  # token, 2 x permissions, count, keys, rows
CURSOR = 4  # token, 2 x permissions, rows (cursor pagination: no count)


class TestPatientQueries(ListQueryCountMixin):
    basename, queries = "patient", BASE


class TestPatientIdentityQueries(ListQueryCountMixin):
    basename, queries = "patient-identity", BASE + 1  # + the curator group check


class TestClinicalAssessmentQueries(ListQueryCountMixin):
    basename, queries = "clinical-assessment", BASE


class TestTreatmentQueries(ListQueryCountMixin):
    basename, queries = "treatment", BASE


class TestDrawQueries(ListQueryCountMixin):
    basename, queries = "draw", BASE


class TestAliquotQueries(ListQueryCountMixin):
    basename, queries = "aliquot", CURSOR


class TestStorageEventQueries(ListQueryCountMixin):
    basename, queries = "storage-event", CURSOR


class TestFreezerQueries(ListQueryCountMixin):
    basename, queries = "freezer", BASE


class TestRackQueries(ListQueryCountMixin):
    basename, queries = "rack", BASE


class TestBoxQueries(ListQueryCountMixin):
    basename, queries = "box", BASE


class TestExtractionBatchQueries(ListQueryCountMixin):
    basename, queries = "extraction-batch", BASE + 1  # + the isolations


class TestReverseTranscriptionQueries(ListQueryCountMixin):
    basename, queries = "reverse-transcription", BASE + 1  # + the assays primed


class TestAssayQueries(ListQueryCountMixin):
    basename, queries = "assay", BASE


class TestPlateQueries(ListQueryCountMixin):
    basename, queries = "plate", BASE


class TestWellQueries(ListQueryCountMixin):
    basename, queries = "well", CURSOR


class TestFollowUpQueries(ListQueryCountMixin):
    basename, queries = "follow-up", BASE


class TestAnalysisPlanQueries(ListQueryCountMixin):
    basename, queries = "analysis-plan", BASE


class TestAnalysisRunQueries(ListQueryCountMixin):
    basename, queries = "analysis-run", BASE


def test_every_list_endpoint_has_its_query_count_pinned():
    pinned = {cls.basename for cls in ListQueryCountMixin.__subclasses__()}
    listed = {basename for _p, viewset, basename in router.registry if hasattr(viewset, "list")}
    assert listed - pinned == set()
