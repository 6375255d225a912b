"""The QC -> normalisation chain end to end: scale, and freedom from Django."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from analysis.pipeline import normalise_wells
from tests.analysis.builders import synthetic_run

ROOT = Path(__file__).resolve().parents[2]


def test_240k_wells_run_through_qc_and_normalisation():
    """The chain copes with the 10,000-patient scale; bench/normalise.py measures its speed."""
    wells = synthetic_run(13_334)  # 2 time points x 3 assays x 3 replicates + NTCs
    assert len(wells) >= 240_000
    result = normalise_wells(wells)
    qc_wells, summary, normalised, wide = (
        result.qc_wells,
        result.replicates,
        result.normalised,
        result.per_patient,
    )
    assert len(wide) == 13_334
    assert len(summary) == 13_334 * 2 * 3
    # ~1 % outliers and ~1 % undetermined were planted
    assert 0.01 < qc_wells["excluded"].mean() < 0.05
    assert normalised["relative_expression"].gt(0).sum() == normalised["delta_cq"].notna().sum()
    assert not (normalised["relative_expression"] == 0).any()
    assert np.isfinite(wide["mir122_ratio"].dropna()).all()


def test_analysis_modules_do_not_import_django():
    code = (
        "import sys\n"
        "import analysis.qc, analysis.normalise\n"
        "import analysis.stats.descriptive, analysis.stats.comparisons\n"
        "import analysis.stats.correlation, analysis.stats.survival, analysis.stats.cox\n"
        "import analysis.pipeline, analysis.cohort, analysis.plans, analysis.engine, analysis.figures\n"
        "leaked = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not leaked, leaked\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
