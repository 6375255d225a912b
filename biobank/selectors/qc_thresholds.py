"""The QC thresholds in force: the defaults (analysis.thresholds), the Cq cut-off and
the lab's EXOTRACK["QC"] overrides. One reader for the cohort's QC and for a
retrieval's eligibility, so both refuse the same tubes."""

from __future__ import annotations

from django.conf import settings

from analysis.thresholds import QcThresholds


def qc_thresholds() -> QcThresholds:
    options = settings.EXOTRACK
    return QcThresholds.from_settings({"cq_cutoff": options["CQ_CUTOFF"], **options.get("QC", {})})
