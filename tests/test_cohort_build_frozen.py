"""The cold cohort build (wells -> replicate QC -> ΔCq -> QC flags -> cohort table and QC
evidence) gives, on the demo cohort, exactly what it gave before it was made faster.

The digests below were computed by running this file's `build_digests()` with the code of
main at fd114f7 (before the issue-16 build work):

    git archive fd114f7 | tar -x -C /tmp/before && cp tests/test_cohort_build_frozen.py \
        /tmp/before/tests/ && cd /tmp/before && \
        PRINT_BUILD_DIGESTS=1 python -m pytest -q -s tests/test_cohort_build_frozen.py::test_print_digests

A change to the derivation that is meant to change a value must update them, and say why.
"""

from __future__ import annotations

import hashlib
import io
import json
import os

import pandas as pd
import pytest

FROZEN = {
    "table": "f3ac3446d1afb8ec8019bc74e7d5e4dfb4dceb29f942bc67a59245509583f9ef",
    "evidence": "4b090b71c89f4f345641554702bc9d97905ce766cf86e9dd7aa5734acbdda879",
    "qc_wells": "e68e734921dded60d75b7546eed29c19f39096d03c3370d1e2c6dd82c0d666d1",
    "replicates": "4620fd52a17d14d434552de3222e1ff44068b03df6af91c52f73cc7c153cb834",
    "ntc": "2d0a11d8b95e114ce29117f72e480feb373363c3fc0bb524b1497a9addad40d4",
    "normalised": "9dc4a336c97dcddb6add2d7db9e4c771f0c54fb61da088c12881b3a8ee5d0a49",
    "findings": "20098b3f08460a765f5f7c91785976286161d92b1c51ec7b79cea9909f74072a",
    "measurements": "8dc6ce73f94e2a40e5530f5cee49f86c155ad362bc959714e95de8a9947af2dd",
    "qc_per_patient": "bdff5f8e4472502241ecefcd65db9c503ebffced7ab94e8de4eb9eef7d993fdc",
    "spike_in": "7551a8290058935ad7f3e2aa4dd3c16858f062eb28afcb6ab48651327bf8c9a4",
    "haemolysis": "a76d28046fc592b2f7ee73f55bff1460b0164e4af7fad7a7d2b1b2d43c419793",
    "per_patient": "a9942eab799fbc8a1002657d70f69288ac2abb8d4b92f484b707ceb33c96bdf5",
}


# Database ids: PostgreSQL does not roll its sequences back between tests, so the demo's
# ids depend on the tests run before; their order does not.
ID_COLUMNS = ("well_id", "plate_id", "sample_id", "draw_id")


def frame_digest(frame: pd.DataFrame) -> str:
    """Every value and the column order, independent of how a text column is stored
    (object or categorical): floats to 17 significant digits, NA spelt out, ids by rank."""
    frame = frame.assign(
        **{
            name: pd.factorize(frame[name], sort=True)[0]
            for name in ID_COLUMNS
            if name in frame.columns
        }
    )
    buffer = io.StringIO()
    frame.astype(object).to_csv(
        buffer, index=False, float_format="%.17g", na_rep="<NA>", lineterminator="\n"
    )
    return hashlib.sha256(buffer.getvalue().encode()).hexdigest()


def build_digests() -> dict[str, str]:
    from analysis.cohort import fingerprint
    from analysis.flags import qc_evidence
    from biobank.selectors import cohort
    from biobank.selectors.qc_inputs import rt_products_frame

    table, evidence = cohort.cohort_with_evidence()
    products, thresholds = rt_products_frame(), cohort.qc_thresholds()
    result = cohort.normalisation(cohort.active_wells_frame(), products, thresholds)
    again = qc_evidence(
        qc_wells=result.qc_wells, ntc=result.ntc, qc=result.qc, products=products,
        thresholds=thresholds,
    )  # fmt: skip
    assert {k: v for k, v in evidence.items() if k != "withdrawn"} == again
    frames = {
        "qc_wells": result.qc_wells,
        "replicates": result.replicates,
        "ntc": result.ntc,
        "normalised": result.normalised,
        "findings": result.qc.findings,
        "measurements": result.qc.measurements,
        "qc_per_patient": result.qc.per_patient,
        "spike_in": result.qc.spike_in,
        "haemolysis": result.qc.haemolysis,
        "per_patient": result.per_patient,
    }
    return {
        "table": fingerprint(table),
        "evidence": hashlib.sha256(
            json.dumps(evidence, sort_keys=True, default=str).encode()
        ).hexdigest(),
        **{name: frame_digest(frame) for name, frame in frames.items()},
    }


@pytest.mark.skipif(
    not os.environ.get("PRINT_BUILD_DIGESTS"), reason="run by hand to compute FROZEN"
)
def test_print_digests(demo):
    print(json.dumps(build_digests(), indent=4))


def test_the_demo_cohort_build_is_what_main_at_fd114f7_built(demo):
    assert build_digests() == FROZEN
