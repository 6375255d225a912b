"""geNorm and NormFinder (analysis/reference_stability.py) on the papers' own data.

Data (tests/analysis/data/, sources in its README.md):

* vandesompele2002.csv: the geNorm paper's data (Vandesompele et al. 2002, Genome Biol
  3:research0034, additional file 1: 10 candidates in 85 samples of 5 tissues), as shipped
  by Bioconductor SLqPCR (``data(vandesompele)``).
* andersen2004_colon.csv: the NormFinder paper's colon data (Andersen et al. 2004, Cancer
  Res 64:5245: 13 candidates, 40 samples in 4 groups), as shipped by Bioconductor NormqPCR
  (``data(Colon)``).

Published values:

* geNorm M of every step for bone marrow (BM) and the ranking of all five tissues: the
  NormqPCR vignette (Perkins et al. 2012, BMC Genomics 13:296; inst/doc/NormqPCR.pdf,
  section 4.1, printed by ``selectHKs(..., method = "geNorm")``), whose ranking reproduces
  Table 3 of Vandesompele et al. 2002. Printed to 7 decimals.
* NormFinder ρ with groups on the colon data (Table 3 of Andersen et al. 2004, as printed by
  the NormqPCR vignette, section 4.2, 7 decimals) and the best pair UBC + GAPD 0.1375298.
* Andersen's own NormFinder R code (r.NormOldStab5.txt, version 05/01-2015, moma.dk) run
  here in R 4.2.2 on the same data (not committed: its licence is not stated); printed to
  17 significant digits, below as ``ANDERSEN_CODE``.

Independent computation: tests/analysis/r/quantification.R (base R, written from the
papers) on every tissue, compared to 1e-9.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.reference_stability import (
    HAEMOLYSIS_SENSITIVE,
    genorm,
    genorm_m,
    haemolysis_sensitive,
    normfinder,
    quantities_from_cq,
)

HERE = Path(__file__).resolve().parent
REFERENCE = json.loads((HERE / "r" / "quantification_reference.json").read_text())
VAND = pd.read_csv(HERE / "data" / "vandesompele2002.csv")
COLON = pd.read_csv(HERE / "data" / "andersen2004_colon.csv").set_index("sample")
NEGATIVE = pd.read_csv(HERE / "data" / "normfinder_negative_variance.csv").set_index("sample")
TOL = 1e-9


def _tissue(name: str) -> pd.DataFrame:
    return VAND.loc[VAND["tissue"].eq(name)].set_index("sample").drop(columns="tissue")


# NormqPCR vignette, geNorm on BM: the M of every candidate at each of the 9 steps.
PUBLISHED_BM_STEPS = [
    {"HPRT1": 0.5160313, "YWHAZ": 0.5314564, "RPL13A": 0.5335963, "UBC": 0.5700961,
     "GAPD": 0.6064919, "SDHA": 0.6201470, "TBP": 0.6397969, "HMBS": 0.7206013,
     "B2M": 0.7747634, "ACTB": 0.8498739},
    {"HPRT1": 0.4705664, "RPL13A": 0.5141375, "YWHAZ": 0.5271169, "UBC": 0.5554718,
     "GAPD": 0.5575295, "SDHA": 0.5738460, "TBP": 0.6042110, "HMBS": 0.6759176,
     "B2M": 0.7671985},
    {"HPRT1": 0.4391222, "RPL13A": 0.4733732, "SDHA": 0.5243665, "YWHAZ": 0.5253471,
     "UBC": 0.5403137, "GAPD": 0.5560120, "TBP": 0.5622094, "HMBS": 0.6210820},
    {"HPRT1": 0.4389069, "RPL13A": 0.4696398, "YWHAZ": 0.4879728, "UBC": 0.5043292,
     "SDHA": 0.5178634, "GAPD": 0.5245346, "TBP": 0.5563591},
    {"HPRT1": 0.4292808, "RPL13A": 0.4447874, "UBC": 0.4594181, "YWHAZ": 0.4728920,
     "GAPD": 0.5012107, "SDHA": 0.5566762},
    {"UBC": 0.4195958, "RPL13A": 0.4204997, "HPRT1": 0.4219179, "YWHAZ": 0.4424631,
     "GAPD": 0.4841646},
    {"RPL13A": 0.3699163, "UBC": 0.3978736, "YWHAZ": 0.4173706, "HPRT1": 0.4419220},
    {"UBC": 0.3559286, "RPL13A": 0.3761358, "YWHAZ": 0.3827933},
    {"RPL13A": 0.3492712, "UBC": 0.3492712},
]  # fmt: skip

# Table 3 of Vandesompele et al. 2002 (as the NormqPCR vignette reproduces it): best first;
# the first two of each tissue cannot be ranked against each other.
PUBLISHED_RANKING = {
    "BM": ["RPL13A", "UBC", "YWHAZ", "HPRT1", "GAPD", "SDHA", "TBP", "HMBS", "B2M", "ACTB"],
    "POOL": ["GAPD", "SDHA", "HMBS", "HPRT1", "TBP", "UBC", "RPL13A", "YWHAZ", "ACTB", "B2M"],
    "FIB": ["GAPD", "HPRT1", "YWHAZ", "UBC", "ACTB", "TBP", "SDHA", "RPL13A", "B2M", "HMBS"],
    "LEU": ["UBC", "YWHAZ", "B2M", "GAPD", "RPL13A", "TBP", "SDHA", "HPRT1", "HMBS", "ACTB"],
    "NB": ["GAPD", "HPRT1", "SDHA", "UBC", "HMBS", "YWHAZ", "TBP", "ACTB", "RPL13A", "B2M"],
}

# Andersen et al. 2004 Table 3 / NormqPCR vignette: colon, model with groups.
PUBLISHED_COLON_RHO = {
    "UBC": 0.1821707, "GAPD": 0.2146061, "TPT1": 0.2202956, "UBB": 0.2471573,
    "TUBA6": 0.2700641, "RPS13": 0.2813039, "NACA": 0.2862397, "CFL1": 0.2870467,
    "SUI1": 0.3139404, "ACTB": 0.3235918, "CLTC": 0.3692880, "RPS23": 0.3784909,
    "FLJ20030": 0.3935173,
}  # fmt: skip

# Andersen's NormFinder R code (r.NormOldStab5.txt) run here on the same data:
#   Normfinder's MakeStab(...)[, 3] (groups) and sqrt(MakeStabOne(...)) (no groups), unrounded.
ANDERSEN_CODE = {
    "colon_groups": {
        "UBC": 0.18217067628994474, "UBB": 0.24715733830667191, "SUI1": 0.31394038103932853,
        "NACA": 0.286239740641829, "FLJ20030": 0.39351729242365108, "CFL1": 0.28704673556070698,
        "ACTB": 0.32359180910695629, "CLTC": 0.36928799376511884, "RPS13": 0.28130385021829446,
        "RPS23": 0.37849089210350761, "GAPD": 0.21460605092775439, "TPT1": 0.22029562648656897,
        "TUBA6": 0.27006406091223267,
    },
    "colon_no_group": {
        "UBC": 0.35130152891566313, "UBB": 0.38317032071520685, "SUI1": 0.45199316594717809,
        "NACA": 0.42891494210105319, "FLJ20030": 0.7188285239960398, "CFL1": 0.453484174485072,
        "ACTB": 0.48480776790132002, "CLTC": 0.46557156323355242, "RPS13": 0.47000509637867927,
        "RPS23": 0.46586087637939516, "GAPD": 0.42441008578512879, "TPT1": 0.33395389267079795,
        "TUBA6": 0.39974575972725507,
    },
    "bm_no_group": {
        "ACTB": 0.75121138311958169, "B2M": 0.65410236247600029, "GAPD": 0.41101549458786296,
        "HMBS": 0.5988054986717285, "HPRT1": 0.22383857015352301, "RPL13A": 0.25661216110297874,
        "SDHA": 0.44659592019069327, "TBP": 0.46816569612207093, "UBC": 0.33483830327133424,
        "YWHAZ": 0.23015253561547902,
    },
    # The unbiased variance is negative for A, B and E: a quarter of the smallest pair variance.
    "negative_no_group": {
        "A": 0.010717142476292518, "B": 0.010717142476292518, "C": 0.61708708963198744,
        "D": 0.68498317236890549, "E": 0.01431033592497756,
    },
    "colon_best_pair": ("UBC", "GAPD", 0.13752983327169879),
}  # fmt: skip


def test_genorm_reproduces_the_published_bone_marrow_steps():
    result = genorm(_tissue("BM"))
    assert len(result.steps) == len(PUBLISHED_BM_STEPS)
    for step, published in zip(result.steps, PUBLISHED_BM_STEPS, strict=True):
        assert set(step["candidates"]) == set(published)
        for gene, m in published.items():
            assert step["m"][gene] == pytest.approx(m, abs=5e-8), gene
    assert [s["excluded"] for s in result.steps[:-1]] == [
        "ACTB", "B2M", "HMBS", "TBP", "SDHA", "GAPD", "HPRT1", "YWHAZ",
    ]  # fmt: skip


@pytest.mark.parametrize("tissue", list(PUBLISHED_RANKING))
def test_genorm_ranking_is_table_3_of_the_paper(tissue):
    ranking = genorm(_tissue(tissue)).ranking
    published = PUBLISHED_RANKING[tissue]
    assert set(ranking[:2]) == set(published[:2])  # the last pair is not ranked
    assert list(ranking[2:]) == published[2:]


@pytest.mark.parametrize("tissue", list(PUBLISHED_RANKING))
def test_genorm_m_and_v_equal_r(tissue):
    expected = REFERENCE["genorm"][tissue]
    result = genorm(_tissue(tissue))
    for step, ref in zip(result.steps, expected["steps"], strict=True):
        assert step["candidates"] == ref["genes"]
        got = [step["m"][g] for g in ref["genes"]]
        np.testing.assert_allclose(got, ref["m"], rtol=TOL)
    assert list(result.pairwise_variation) == expected["v_names"]
    np.testing.assert_allclose(list(result.pairwise_variation.values()), expected["v"], rtol=TOL)


def test_pairwise_variation_recommends_the_smallest_n_below_the_cutoff():
    result = genorm(_tissue("BM"))
    assert result.pairwise_variation["2/3"] < 0.15
    assert result.recommended_number == 2
    strict = genorm(_tissue("BM"), cutoff=0.1)
    first = next(k for k, v in strict.pairwise_variation.items() if v < 0.1)
    assert strict.recommended_number == int(first.split("/")[0])
    assert genorm(_tissue("BM"), cutoff=0.01).recommended_number is None
    json.dumps(result.to_dict(), allow_nan=False)


def test_genorm_is_the_same_from_cq():
    """Cq = -log2(quantity) + shift per candidate gives the same M."""
    q = _tissue("FIB")
    cq = -np.log2(q) + np.arange(q.shape[1])
    from_cq = genorm_m(quantities_from_cq(cq))
    np.testing.assert_allclose(from_cq.to_numpy(), genorm_m(q).to_numpy(), rtol=1e-12)


def test_genorm_leaves_out_incomplete_samples_and_refuses_bad_values():
    q = _tissue("FIB").copy()
    q.iloc[0, 0] = np.nan
    result = genorm(q)
    assert result.n_samples == 19 and result.dropped == ("FIB1",)
    q.iloc[1, 2] = 0.0
    with pytest.raises(ValueError, match="sample FIB2, GAPD: quantity 0.0 must be positive"):
        genorm(q)
    with pytest.raises(ValueError, match="at least two candidates"):
        genorm(_tissue("FIB")[["ACTB"]])
    with pytest.raises(ValueError, match="at least 3 are needed"):
        genorm(_tissue("FIB").iloc[:2])


def test_normfinder_with_groups_reproduces_andersen_2004():
    data = COLON.drop(columns="group")
    result = normfinder(np.log2(data), groups=COLON["group"])
    for gene, rho in PUBLISHED_COLON_RHO.items():
        assert result.stability[gene] == pytest.approx(rho, abs=5e-8), gene
    for gene, rho in ANDERSEN_CODE["colon_groups"].items():
        assert result.stability[gene] == pytest.approx(rho, rel=TOL), gene
    assert result.ranking[:3] == ("UBC", "GAPD", "TPT1")
    gene1, gene2, value = result.best_pair
    best = ANDERSEN_CODE["colon_best_pair"]
    assert {gene1, gene2} == set(best[:2]) and value == pytest.approx(best[2], rel=TOL)
    np.testing.assert_allclose(
        result.stability.to_numpy(), REFERENCE["normfinder"]["groups"], rtol=TOL
    )


@pytest.mark.parametrize(
    ("key", "frame"),
    [
        ("colon_no_group", lambda: np.log2(COLON.drop(columns="group"))),
        ("bm_no_group", lambda: np.log2(_tissue("BM"))),
        ("negative_no_group", lambda: NEGATIVE),
    ],
)
def test_normfinder_without_groups_equals_andersens_code(key, frame):
    result = normfinder(frame())
    expected = ANDERSEN_CODE[key]
    assert not result.grouped
    for gene, sigma in expected.items():
        assert result.stability[gene] == pytest.approx(sigma, rel=TOL), gene


def test_normfinder_equals_r():
    ref = REFERENCE["normfinder"]
    colon = np.log2(COLON.drop(columns="group"))
    assert list(colon.columns) == ref["genes"]
    np.testing.assert_allclose(normfinder(colon).stability, ref["no_group"], rtol=TOL)
    np.testing.assert_allclose(
        normfinder(np.log2(_tissue("BM"))).stability, ref["bm_no_group"], rtol=TOL
    )
    assert list(NEGATIVE.columns) == ref["negative_genes"]
    np.testing.assert_allclose(normfinder(NEGATIVE).stability, ref["negative_no_group"], rtol=TOL)


def test_normfinder_refusals():
    data = np.log2(COLON.drop(columns="group"))
    with pytest.raises(ValueError, match="at least three candidates"):
        normfinder(data.iloc[:, :2])
    with pytest.raises(ValueError, match="at least two groups"):
        normfinder(data, groups=["x"] * len(data))
    with pytest.raises(ValueError, match="fewer than two samples"):
        normfinder(data, groups=["a"] + ["b"] * (len(data) - 1))
    with pytest.raises(ValueError, match="3 group labels for 40 samples"):
        normfinder(data, groups=["a", "b", "c"])


def test_haemolysis_sensitive_names_the_red_cell_mirnas():
    found = haemolysis_sensitive(
        ["hsa-miR-16-5p", "hsa-miR-451a", "hsa-miR-486-5p", "hsa-miR-92a-3p", "hsa-miR-21-5p",
         "hsa-miR-122-5p", "cel-miR-39-3p", "hsa-miR-191-5p"]
    )  # fmt: skip
    assert list(found) == [
        "hsa-miR-16-5p", "hsa-miR-451a", "hsa-miR-486-5p", "hsa-miR-92a-3p", "hsa-miR-21-5p",
    ]  # fmt: skip
    assert "Kirschner" in found["hsa-miR-16-5p"]
    assert all("(" in why for why in HAEMOLYSIS_SENSITIVE.values())  # each says its source
