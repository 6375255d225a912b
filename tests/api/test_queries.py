"""Query counts of every list endpoint, pinned (see ListQueryCountMixin). The count
covers the token lookup, which reads the user's groups and permissions in the same
query (1, biobank.api.authentication), the COUNT (1), the page's keys (1) and rows (1)
(biobank.api.pagination), and any prefetch; the large collections, cursor-paginated,
run no COUNT and read their page at once."""

from __future__ import annotations

from biobank.api.urls import router

from .base import ListQueryCountMixin

BASE = 4  # token with the user's roles, count, keys, rows
CURSOR = 2  # token with the user's roles, rows (cursor pagination: no count)


class TestPatientQueries(ListQueryCountMixin):
    basename, queries = "patient", BASE


class TestPatientIdentityQueries(ListQueryCountMixin):
    basename, queries = "patient-identity", BASE  # the curator check reads the token's roles


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
