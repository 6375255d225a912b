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
    "qc_wells": "8c6af78e8b0c52d64cf5ed6bec066ac0224e665527d857cbd51d73b7e1339835",
    "replicates": "e55f700944f98004c6d4b76c2a6213b669d63ca2fe1ca9b181f951eabbb9c2d0",
    "ntc": "ab63e89de2ae401d74e1d971927533463836cc4fa98f38346369271dc0bec934",
    "normalised": "be422310248d5e10393ab64790fab57f7c742e167836b078660d50dbdd70543f",
    "findings": "7a9c4221bc2aed0f3f9b61071c69dbd17d6554d1e3aba245506088738a867e2f",
    "measurements": "4351fe88e01062b52009ba52e38f2eca1197f4d3982bd2d3ea586a0340ab56d3",
    "qc_per_patient": "bdff5f8e4472502241ecefcd65db9c503ebffced7ab94e8de4eb9eef7d993fdc",
    "spike_in": "d76d07e7e9790956025e81c56d8eccfc372946ea3093f3ecd8b58ddd1529151f",
    "haemolysis": "cf3f37c28b108062fd3670b063a9c5f77c1033bcc0f1b304b478ae88bf1e0522",
    "per_patient": "a9942eab799fbc8a1002657d70f69288ac2abb8d4b92f484b707ceb33c96bdf5",
}


def frame_digest(frame: pd.DataFrame) -> str:
    """Every value and the column order, independent of how a text column is stored
    (object or categorical): floats to 17 significant digits, NA spelt out."""
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
