"""Is a reference stable enough to normalise by? geNorm and NormFinder.

Input is a wide table, one row per sample and one column per candidate reference (the
spike-in and the endogenous candidates), measured on the same RT products.

**geNorm** (Vandesompele et al. 2002, Genome Biol 3:research0034). For candidates j, k the
log ratio ``A_jk = log2(a_j / a_k)`` over samples should be constant if both are stable;
``V_jk = SD(A_jk)`` (sample SD) and the stability ``M_j = mean_k≠j V_jk``. The least
stable candidate (largest M) is excluded and M recomputed until two remain (those two
cannot be ranked against each other). The pairwise variation ``V_n/n+1 = SD(log2(NF_n /
NF_n+1))``, with ``NF_n`` the geometric mean of the n best candidates, says whether adding
the (n+1)th changes the normalisation factor; below 0.15 (the paper's cut-off) n
references suffice.

``a`` are relative quantities on the linear scale (:func:`quantities_from_cq` makes them
from Cq, ``a = E^-Cq``); M and V depend only on log ratios, so any per-candidate scaling
(a calibrator) leaves them unchanged.

**NormFinder** (Andersen, Jensen & Ørntoft 2004, Cancer Res 64:5245). On the log2 scale
``y_jg = log2 a_jg`` (sample j... here rows are samples, columns genes), a two-way model
estimates each candidate's variance free of the sample effect:

* no groups: with gene means ``ȳ_g``, sample means ``ȳ_j`` and grand mean ``ȳ``,
  ``s_g² = Σ_j (y_jg - ȳ_g - ȳ_j + ȳ)² / (n-1)``, and the unbiased variance
  ``σ_g² = [s_g² - Σ_h s_h² / (k(k-1))] / (1 - 2/k)`` for k candidates, n samples; a
  negative estimate is replaced by a quarter of the smallest variance of the gene's
  differences with another gene (Andersen's own code). The stability value is ``σ_g``.
* groups: the same variance within each group, plus the intergroup difference ``d_ig``
  of the gene's group mean (centred on gene and group means), shrunk towards 0 by the
  between-group variance ``γ`` estimated from all genes: ``ρ_g = mean_i(|d̃_ig| +
  √ṽ_ig)`` with ``d̃ = d·γ/(γ + v)``, ``ṽ = v + γ·v/(γ + v)`` and ``v = σ²_ig / n_i``.
  The best pair of genes is the one whose average has the lowest combined value.

Both are checked against independent computations (tests/analysis/r/quantification.R
and, for NormFinder, Andersen's own R code on the colon data set of the paper).

:func:`haemolysis_sensitive` names candidates whose plasma/serum level follows
haemolysis or blood-cell contamination, so a page can warn when one is chosen as a
reference.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "HAEMOLYSIS_SENSITIVE",
    "PAIRWISE_VARIATION_CUTOFF",
    "GenormResult",
    "NormFinderResult",
    "genorm",
    "genorm_m",
    "haemolysis_sensitive",
    "normfinder",
    "quantities_from_cq",
]

PAIRWISE_VARIATION_CUTOFF = 0.15


def _wide(table: pd.DataFrame, *, positive: bool) -> pd.DataFrame:
    """Float copy of a samples × candidates table; rows with any missing value dropped
    (both methods need every candidate in every sample), bad values refused."""
    if not isinstance(table, pd.DataFrame):
        raise ValueError("give a table with one row per sample and one column per candidate")
    data = table.apply(pd.to_numeric, errors="coerce").astype(float)
    if data.shape[1] < 2:
        raise ValueError("reference stability needs at least two candidates")
    if positive:
        bad = data.notna() & ~(data > 0)
        if bad.to_numpy().any():
            row, col = np.argwhere(bad.to_numpy())[0]
            raise ValueError(
                f"sample {data.index[row]}, {data.columns[col]}: quantity {float(data.iat[row, col])!r} "
                "must be positive"
            )
    inf = np.isinf(data.to_numpy())
    if inf.any():
        row, col = np.argwhere(inf)[0]
        raise ValueError(f"sample {data.index[row]}, {data.columns[col]}: value is infinite")
    complete = data.dropna()
    if len(complete) < 3:
        raise ValueError(
            f"{len(complete)} sample(s) have every candidate measured; at least 3 are needed"
        )
    return complete


def quantities_from_cq(cq: pd.DataFrame, amplification: Mapping[str, float] | None = None):
    """Relative quantities ``E^-(Cq - min Cq)`` per candidate column (E = 2 unless given).

    Subtracting the column's minimum only scales a candidate (geNorm's own input form,
    relative to the highest expression); it does not change M, V or NormFinder values.
    """
    out = {}
    for column in cq.columns:
        e = 2.0 if amplification is None else float(amplification.get(column, 2.0))
        values = pd.to_numeric(cq[column], errors="coerce").astype(float)
        out[column] = e ** -(values - values.min())
    return pd.DataFrame(out, index=cq.index)


def genorm_m(quantities: pd.DataFrame) -> pd.Series:
    """geNorm's M per candidate (lower is more stable) over complete samples."""
    data = _wide(quantities, positive=True)
    return _m(np.log2(data.to_numpy()), data.columns)


def _m(logs: np.ndarray, names) -> pd.Series:
    k = logs.shape[1]
    # V_jk = SD over samples of log2(a_j/a_k) for every pair at once.
    diffs = logs[:, :, None] - logs[:, None, :]
    v = diffs.std(axis=0, ddof=1)
    m = v.sum(axis=1) / (k - 1)
    return pd.Series(m, index=list(names), name="M")


@dataclass(frozen=True)
class GenormResult:
    """geNorm's stepwise exclusion.

    ``steps``: one dict per step, ``{"candidates": [...], "m": {name: M}, "mean_m",
    "excluded"}`` (``excluded`` None at the last step, two left). ``ranking``: best first;
    the first two are the last pair, which geNorm cannot order. ``pairwise_variation``:
    ``{"n/n+1": V}`` for n from 2 to k-1. ``recommended_number``: the smallest n whose
    V_n/n+1 is below the cut-off (None when none is: the paper then advises the n with the
    lowest V, or more candidates). ``n_samples``: complete samples used; ``dropped``:
    samples left out for a missing value.
    """

    steps: tuple[dict, ...]
    ranking: tuple[str, ...]
    pairwise_variation: dict
    recommended_number: int | None
    cutoff: float
    n_samples: int
    dropped: tuple = field(default=())

    def to_dict(self) -> dict:
        return {
            "steps": [dict(s) for s in self.steps],
            "ranking": list(self.ranking),
            "pairwise_variation": dict(self.pairwise_variation),
            "recommended_number": self.recommended_number,
            "cutoff": self.cutoff,
            "n_samples": self.n_samples,
            "dropped": [str(d) for d in self.dropped],
        }


def genorm(quantities: pd.DataFrame, *, cutoff: float = PAIRWISE_VARIATION_CUTOFF) -> GenormResult:
    """geNorm M at each step of the stepwise exclusion, the ranking and V_n/n+1.

    ``quantities``: samples × candidates, relative quantities on the linear scale (see
    :func:`quantities_from_cq`). Ties for the largest M exclude the first in column order.
    """
    data = _wide(quantities, positive=True)
    dropped = tuple(i for i in quantities.index if i not in set(data.index))
    names = list(data.columns)
    logs = np.log2(data.to_numpy())
    k = len(names)
    steps = []
    excluded_order = []
    variation = {}
    while True:
        m = _m(logs, names)
        if len(names) == 2:
            steps.append(
                {
                    "candidates": list(names),
                    "m": m.to_dict(),
                    "mean_m": float(m.mean()),
                    "excluded": None,
                }
            )
            break
        worst = int(np.argmax(m.to_numpy()))
        # V_{n-1/n}: the NF without the worst against the NF with it (log2 geometric means).
        nf_with = logs.mean(axis=1)
        nf_without = np.delete(logs, worst, axis=1).mean(axis=1)
        n_left = len(names) - 1
        variation[f"{n_left}/{n_left + 1}"] = float(np.std(nf_without - nf_with, ddof=1))
        steps.append(
            {
                "candidates": list(names),
                "m": m.to_dict(),
                "mean_m": float(m.mean()),
                "excluded": names[worst],
            }
        )
        excluded_order.append(names[worst])
        logs = np.delete(logs, worst, axis=1)
        del names[worst]
    ranking = tuple(names) + tuple(reversed(excluded_order))
    ordered = {f"{n}/{n + 1}": variation[f"{n}/{n + 1}"] for n in range(2, k)}
    recommended = next((n for n in range(2, k) if ordered[f"{n}/{n + 1}"] < cutoff), None)
    return GenormResult(
        steps=tuple(steps),
        ranking=ranking,
        pairwise_variation=ordered,
        recommended_number=recommended,
        cutoff=cutoff,
        n_samples=len(data),
        dropped=dropped,
    )


@dataclass(frozen=True)
class NormFinderResult:
    """NormFinder's stability value per candidate (lower is more stable).

    ``stability``: Series by candidate (σ without groups, ρ with groups), in column order.
    ``ranking``: candidates by increasing stability value. With groups also
    ``intragroup_variance`` (candidates × groups σ²), ``intergroup_difference`` (d),
    ``gamma`` and ``best_pair`` ``(gene1, gene2, value)``.
    """

    stability: pd.Series
    ranking: tuple[str, ...]
    grouped: bool
    n_samples: int
    intragroup_variance: pd.DataFrame | None = None
    intergroup_difference: pd.DataFrame | None = None
    gamma: float | None = None
    best_pair: tuple | None = None


def _min_pair_variance(y: np.ndarray) -> np.ndarray:
    """For each gene (column), a quarter of the smallest variance of its differences with
    another gene: Andersen's replacement for a negative variance estimate."""
    diffs = y[:, :, None] - y[:, None, :]
    var = diffs.var(axis=0, ddof=1)
    np.fill_diagonal(var, np.inf)
    return var.min(axis=1) / 4.0


def _variances(y: np.ndarray) -> np.ndarray:
    """Unbiased per-gene variance in a two-way (sample + gene) model; y is samples × genes."""
    n, k = y.shape
    resid = y - y.mean(axis=0)[None, :] - y.mean(axis=1)[:, None] + y.mean()
    s2 = (resid**2).sum(axis=0) / (n - 1)
    var = (s2 - s2.sum() / (k * (k - 1))) / (1.0 - 2.0 / k)
    return np.where(var < 0, _min_pair_variance(y), var)


def normfinder(
    log2_expression: pd.DataFrame, *, groups=None, pair_limit: float = 0.25
) -> NormFinderResult:
    """NormFinder stability values.

    ``log2_expression``: samples × candidates on a log2 scale (log2 quantities, or Cq
    values directly when E ≈ 2: the sign and a per-candidate shift do not matter).
    ``groups``: optional labels per sample (same order as the rows) for the model with
    groups (e.g. tumour vs normal, PRE vs POST); each group needs at least two samples.
    The best pair is sought, as in Andersen's code, among the candidates whose own value
    is below ``pair_limit`` (0.25) or, when fewer than four are, the four best: two
    unstable genes whose group differences happen to cancel make no good pair.
    """
    data = _wide(log2_expression, positive=False)
    k = data.shape[1]
    if k < 3:
        raise ValueError("NormFinder needs at least three candidates")
    names = list(data.columns)
    if groups is None:
        y = data.to_numpy()
        sigma = np.sqrt(_variances(y))
        stability = pd.Series(sigma, index=names, name="stability")
        return NormFinderResult(
            stability=stability,
            ranking=tuple(stability.sort_values(kind="stable").index),
            grouped=False,
            n_samples=len(data),
        )
    groups = list(groups)
    if len(groups) != len(log2_expression):
        raise ValueError(f"{len(groups)} group labels for {len(log2_expression)} samples")
    labels = pd.Series(groups, index=log2_expression.index)
    labels = labels.loc[data.index]
    if labels.isna().any():
        raise ValueError(f"sample {labels.index[labels.isna()][0]} has no group")
    levels = sorted(labels.unique(), key=str)
    if len(levels) < 2:
        raise ValueError("the model with groups needs at least two groups")
    sizes = labels.value_counts()
    small = [g for g in levels if sizes[g] < 2]
    if small:
        raise ValueError(f"group {small[0]} has fewer than two samples")
    y = data.to_numpy()
    ngr = len(levels)
    var = np.zeros((k, ngr))
    means = np.zeros((k, ngr))
    n_i = np.array([sizes[g] for g in levels], dtype=float)
    for i, g in enumerate(levels):
        yi = y[labels.to_numpy() == g]
        var[:, i] = _variances(yi)
        means[:, i] = yi.mean(axis=0)
    dif = means - means.mean(axis=1)[:, None] - means.mean(axis=0)[None, :] + means.mean()
    vardif = var / n_i[None, :]
    gamma = (dif**2).sum() / ((ngr - 1) * (k - 1)) - vardif.mean()
    gamma = max(gamma, 0.0)
    difnew = dif * gamma / (gamma + vardif)
    varnew = vardif + gamma * vardif / (gamma + vardif)
    rho = (np.abs(difnew) + np.sqrt(varnew)).mean(axis=1)
    stability = pd.Series(rho, index=names, name="stability")
    if (rho < pair_limit).sum() >= 4 or k <= 3:
        pool = np.flatnonzero(rho < pair_limit) if k > 3 else np.arange(k)
    else:
        pool = np.flatnonzero(rho <= np.sort(rho)[3])
    best = None
    for ia, a in enumerate(pool):
        for b in pool[ia + 1 :]:
            value = _pair_stability(a, b, dif, var, n_i, gamma, k)
            if best is None or value < best[2]:
                best = (names[a], names[b], value)
    return NormFinderResult(
        stability=stability,
        ranking=tuple(stability.sort_values(kind="stable").index),
        grouped=True,
        n_samples=len(data),
        intragroup_variance=pd.DataFrame(var, index=names, columns=levels),
        intergroup_difference=pd.DataFrame(dif, index=names, columns=levels),
        gamma=float(gamma),
        best_pair=best,
    )


def _pair_stability(a, b, dif, var, n_i, gamma, k) -> float:
    """Stability of the average of two genes (Andersen's supplement, 'Average control
    gene'; the 2015 version of his code)."""
    d1, d2 = dif[a], dif[b]
    s1, s2 = var[a], var[b]
    bias = np.abs(gamma * d1 / (gamma + s1 / n_i) + gamma * d2 / (gamma + s2 / n_i))
    bias = bias * math.sqrt(k / (k - 2)) / 2
    spread = (
        np.sqrt(
            s1 / n_i + gamma * s1 / (n_i * gamma + s1) + s2 / n_i + gamma * s2 / (n_i * gamma + s2)
        )
        / 2
    )
    return float((bias + spread).mean())


# Circulating miRNAs whose level follows haemolysis or blood-cell content, so they make
# poor references in plasma/serum. Keys are analysis.normalise.target_prefix names.
HAEMOLYSIS_SENSITIVE = {
    "mir16": "red-cell miRNA: plasma level rises with haemolysis (Kirschner et al. 2011, "
    "PLoS One 6:e24145; Blondal et al. 2013, Methods 59:S1)",
    "mir451a": "red-cell miRNA: the haemolysis marker (Kirschner et al. 2011; Blondal et al. "
    "2013, ΔCq miR-23a - miR-451a > 7 flags haemolysis)",
    "mir451": "red-cell miRNA: the haemolysis marker (Kirschner et al. 2011; Blondal et al. 2013)",
    "mir486": "erythrocyte-enriched (Pritchard et al. 2012, Cancer Prev Res 5:492; Blondal et al. "
    "2013)",
    "mir92a": "erythrocyte-enriched: rises with haemolysis (Kirschner et al. 2011; Pritchard et al. "
    "2012)",
    "mir21": "abundant in blood cells: plasma level follows blood-cell content and haemolysis "
    "(Pritchard et al. 2012)",
    "mir144": "erythroid miRNA (Pritchard et al. 2012)",
}


def haemolysis_sensitive(targets: Iterable[str]) -> dict[str, str]:
    """``{target: why}`` for the given assay names that are haemolysis-sensitive."""
    from analysis.normalise import target_prefix  # the project's one naming of assays

    found = {}
    for target in targets:
        key = target_prefix(str(target))
        if key in HAEMOLYSIS_SENSITIVE:
            found[target] = HAEMOLYSIS_SENSITIVE[key]
    return found
