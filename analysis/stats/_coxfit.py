"""The numerical core of the Cox model: partial likelihood, Newton-Raphson, profile
likelihood, concordance and the proportional-hazards test, in vectorised numpy.

It reproduces R survival's ``coxph`` (Efron or Breslow ties), ``cox.zph`` (transform
"km") and ``concordance``. Sums over risk sets are reverse cumulative sums over the rows
sorted by time, so one evaluation of the likelihood costs O(n·p²) with no Python loop
per subject or per event time.

Efron's and Breslow's approximations are written as one sum over *risk denominators*:
Breslow has one per distinct event time, weighted by its d deaths; Efron has d per event
time, the k-th (k = 0..d-1) with k/d of the tied deaths' risk removed, each weighted 1.
The log partial likelihood is then Σ_deaths η − Σ_denominators m·log S0, and the score,
information and (for Firth's penalty) the derivative of the information follow from the
same S0, S1, S2 (and S3) sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

STEP_TOLERANCE = 1e-10
MAX_ITERATIONS = 60
MAX_HALVINGS = 40
#: A standardised |coefficient| (HR per SD) beyond e^30 is taken as a diverging fit.
DIVERGED = 30.0


@dataclass
class Evaluation:
    """Log partial likelihood, score and information at one β (penalised under Firth)."""

    loglik: float
    score: np.ndarray
    information: np.ndarray
    sums: Sums | None = None


class CoxData:
    """Rows sorted by time, centred covariates and the risk-denominator layout of the
    chosen ties method; evaluates the (optionally Firth-penalised) partial likelihood."""

    def __init__(self, time, event, x, *, ties: str = "efron", firth: bool = False):
        if ties not in ("efron", "breslow"):
            raise ValueError(f"ties must be 'efron' or 'breslow', not {ties!r}")
        time = np.asarray(time, dtype=float)
        event = np.asarray(event, dtype=bool)
        # by time, and within a time the deaths first (the order concordance needs)
        order = np.lexsort((~event, time))
        self.order = order
        self.time = time[order]
        self.event = event[order]
        x = np.asarray(x, dtype=float)[order].reshape(len(order), -1)
        self.means = x.mean(axis=0) if len(x) else np.zeros(x.shape[1])
        self.raw_x = x
        self.x = x - self.means
        self.n, self.p = self.x.shape
        self.ties, self.firth = ties, firth
        # first row of each distinct time: the risk set of that time starts there
        starts = np.flatnonzero(np.r_[True, self.time[1:] != self.time[:-1]])
        group = np.cumsum(np.r_[True, self.time[1:] != self.time[:-1]]) - 1
        deaths = np.bincount(group, weights=self.event, minlength=len(starts))
        event_groups = np.flatnonzero(deaths > 0)
        self._group = group
        self._event_groups = event_groups
        self._risk_start = starts[event_groups]
        d = deaths[event_groups].astype(int)
        self.event_times = self.time[self._risk_start]
        self.deaths_per_time = d
        if ties == "breslow":
            self._term_time = np.arange(len(d))
            self._term_fraction = np.zeros(len(d))
            self._term_weight = d.astype(float)
        else:
            self._term_time = np.repeat(np.arange(len(d)), d)
            within = np.arange(d.sum()) - np.repeat(np.cumsum(d) - d, d)
            self._term_fraction = within / np.repeat(d, d)
            self._term_weight = np.ones(d.sum())
        self._dead_x = self.x[self.event].sum(axis=0)
        # the deaths, in time order, start a new event time at these positions
        self._dead_starts = np.r_[0, np.cumsum(d)[:-1]].astype(int)

    def _sums(self, beta: np.ndarray, order: int) -> Sums:
        """Risk-set sums of w·x^k (k ≤ order) at each event time, for the rows at risk and
        for the deaths, with w = exp(η − max η) (no overflow; the shift is added back to
        log S0). All powers sit side by side so one cumulative sum serves them all."""
        eta = self.x @ beta
        shift = float(eta.max()) if self.n else 0.0
        w = np.exp(eta - shift)
        n, p = self.n, self.p
        blocks = [w[:, None], w[:, None] * self.x]
        if order >= 2:
            blocks.append((blocks[1][:, :, None] * self.x[:, None, :]).reshape(n, p * p))
        if order >= 3:
            blocks.append((blocks[2][:, :, None] * self.x[:, None, :]).reshape(n, p * p * p))
        stacked = np.concatenate(blocks, axis=1)
        # reverse cumulative sums, read at the first row of each event time
        at_risk = np.cumsum(stacked[::-1], axis=0)[n - 1 - self._risk_start]
        dead = np.add.reduceat(stacked[self.event], self._dead_starts, axis=0)
        first = (
            at_risk[self._term_time, : 1 + p]
            - self._term_fraction[:, None] * (dead[self._term_time, : 1 + p])
        )
        return Sums(self, eta, shift, first[:, 0], first[:, 1:], at_risk, dead)

    def evaluate(self, beta, *, penalised: bool | None = None) -> Evaluation:
        beta = np.asarray(beta, dtype=float)
        penalised = self.firth if penalised is None else penalised
        sums = self._sums(beta, 3 if penalised else 2)
        s0, mean = sums.s0, sums.mean
        m = self._term_weight
        loglik = float(sums.eta[self.event].sum() - (m * (np.log(s0) + sums.shift)).sum())
        score = self._dead_x - m @ mean
        information = sums.information(m)
        if not penalised:
            return Evaluation(loglik, score, information, sums)
        sign, logdet = np.linalg.slogdet(information)
        if sign <= 0:
            return Evaluation(-math.inf, score, information, sums)
        inverse = np.linalg.inv(information)
        # ∂I/∂β_r = Σ m·[S3/S0 − (S2/S0)⊗x̄_r − (S2/S0)_{ir} x̄_j − (S2/S0)_{jr} x̄_i + 2 x̄x̄x̄]
        p = self.p
        s2_mean = np.stack([sums.total(2, m / s0 * mean[:, r]) for r in range(p)], axis=-1)
        derivative = (
            sums.total(3, m / s0)
            - s2_mean
            - np.transpose(s2_mean, (0, 2, 1))
            - np.transpose(s2_mean, (2, 0, 1))
            + 2 * np.einsum("t,ti,tj,tr->ijr", m, mean, mean, mean)
        )
        correction = 0.5 * np.einsum("ij,jir->r", inverse, derivative)
        return Evaluation(loglik + 0.5 * logdet, score + correction, information, sums)


class Sums:
    """The risk-set sums at one β. Per risk denominator t only S0 and S1 are expanded
    (T = number of deaths under Efron); a weighted total Σ_t c_t·S_k,t of a higher power
    is taken per event time instead, since under Efron S_k,t = A_k − f_t·D_k (A: at risk,
    D: the tied deaths, f_t the fraction removed): Σ_t c_t S_k,t = Σ_g A_k Σc − D_k Σc·f."""

    def __init__(self, data: CoxData, eta, shift, s0, s1, at_risk, dead):
        self.data, self.eta, self.shift = data, eta, shift
        self.s0, self.mean = s0, s1 / s0[:, None]
        self.at_risk, self.dead = at_risk, dead

    def total(self, power: int, weights: np.ndarray) -> np.ndarray:
        data, p = self.data, self.data.p
        start = sum(p**k for k in range(power))
        columns = slice(start, start + p**power)
        groups = len(data._risk_start)
        by_time = np.bincount(data._term_time, weights=weights, minlength=groups)
        removed = np.bincount(
            data._term_time, weights=weights * data._term_fraction, minlength=groups
        )
        value = by_time @ self.at_risk[:, columns] - removed @ self.dead[:, columns]
        return value.reshape((p,) * power)

    def information(self, weights: np.ndarray) -> np.ndarray:
        """Σ_t weights_t·(S2/S0 − x̄x̄ᵀ): the information when weights are the m_t."""
        return self.total(2, weights / self.s0) - (self.mean * weights[:, None]).T @ self.mean


@dataclass
class Fit:
    beta: np.ndarray
    evaluation: Evaluation
    iterations: int
    converged: bool
    initial: Evaluation | None = None  # at the starting β (β = 0: the null model)


def newton_raphson(data: CoxData, beta0, *, free=None, penalised=None) -> Fit:
    """Maximise the (penalised) log partial likelihood over the ``free`` coefficients
    (the others stay where ``beta0`` puts them: a profile). Newton steps, halved while
    the likelihood falls; stops when the largest step is below STEP_TOLERANCE, far
    tighter than R's eps=1e-9 on the relative change of the log-likelihood."""
    beta = np.array(beta0, dtype=float)
    free = np.ones(data.p, bool) if free is None else np.asarray(free, bool)
    current = initial = data.evaluate(beta, penalised=penalised)
    if not free.any():
        return Fit(beta, current, 0, True, initial)
    scale = data.x.std(axis=0)
    scale[scale == 0] = 1.0
    for iteration in range(1, MAX_ITERATIONS + 1):
        sub = current.information[np.ix_(free, free)]
        try:
            step = np.linalg.solve(sub, current.score[free])
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(sub, current.score[free], rcond=None)[0]
        if not np.all(np.isfinite(step)):
            return Fit(beta, current, iteration, False, initial)
        if np.max(np.abs(step)) < STEP_TOLERANCE:  # β is within the step of the maximum
            return Fit(beta, current, iteration, True, initial)
        for _ in range(MAX_HALVINGS):
            trial = beta.copy()
            trial[free] += step
            candidate = data.evaluate(trial, penalised=penalised)
            if np.isfinite(candidate.loglik) and candidate.loglik >= current.loglik - 1e-12 * (
                1 + abs(current.loglik)
            ):
                break
            step = step / 2
        else:
            return Fit(beta, current, iteration, False, initial)
        beta, current = trial, candidate
        if np.max(np.abs(beta * scale)) > DIVERGED:
            return Fit(beta, current, iteration, False, initial)
    return Fit(beta, current, MAX_ITERATIONS, False, initial)


def profile_interval(data: CoxData, fit: Fit, index: int, *, confidence: float, penalised=None):
    """(low, high) where 2·(LL(β̂) − LL_profile(β_index)) equals the χ²₁ quantile, the
    other coefficients re-maximised at each value (JMP's and coxphf's intervals). A side
    whose likelihood never falls that far is None (the interval is open there)."""
    target = stats.chi2.ppf(confidence, 1)
    best = fit.evaluation.loglik
    free = np.ones(data.p, bool)
    free[index] = False
    start = fit.beta.copy()

    def deviance(value: float) -> float:
        beta = start.copy()
        beta[index] = value
        profile = newton_raphson(data, beta, free=free, penalised=penalised)
        start[free] = profile.beta[free]
        return 2 * (best - profile.evaluation.loglik) - target

    try:
        se = math.sqrt(np.linalg.inv(fit.evaluation.information)[index, index])
    except np.linalg.LinAlgError:
        se = 1.0
    if not math.isfinite(se) or se <= 0:
        se = 1.0
    scale = float(data.x[:, index].std()) or 1.0
    limits = []
    for direction in (-1.0, 1.0):
        start[:] = fit.beta
        inner, width = fit.beta[index], se * math.sqrt(target)
        outer, found = inner + direction * width, False
        while abs(outer) * scale <= DIVERGED * 2:
            if deviance(outer) > 0:
                found = True
                break
            inner, width = outer, width * 2
            outer = inner + direction * width
        if not found:
            limits.append(None)
            continue
        start[:] = fit.beta
        low, high = sorted((inner, outer))
        limits.append(optimize.brentq(deviance, low, high, xtol=1e-12, rtol=1e-14))
    return limits[0], limits[1]


def profile_p(data: CoxData, fit: Fit, index: int, *, penalised=None) -> float:
    """P of the (penalised) likelihood-ratio test of β_index = 0, the others re-maximised."""
    free = np.ones(data.p, bool)
    free[index] = False
    beta = fit.beta.copy()
    beta[index] = 0.0
    profile = newton_raphson(data, beta, free=free, penalised=penalised)
    chisq = max(2 * (fit.evaluation.loglik - profile.evaluation.loglik), 0.0)
    return float(stats.chi2.sf(chisq, 1))


def concordance(data: CoxData, beta) -> float | None:
    """Harrell's C as R's ``concordance(coxph)``: over pairs where the shorter time is an
    event (a censored time equal to an event time counts as longer), the share with the
    higher risk on the shorter time, a tie in risk counting one half; pairs tied in time
    are not comparable. O(n log n), no loop over subjects."""
    beta = np.asarray(beta, float)
    # R's linear predictor, rounded as R rounds it: ties in risk are exact ties there
    linear_predictor = data.raw_x @ beta - float(data.means @ beta)
    _, rank = np.unique(linear_predictor, return_inverse=True)
    rank = rank.ravel()
    # a death's comparable rows start after the deaths tied with it (rows are sorted by
    # time, deaths first): the later times and the rows censored at its own time
    d = data.deaths_per_time
    start = np.repeat(data._risk_start + d, d)
    level = rank[data.event]
    levels = int(rank.max(initial=0)) + 1
    if levels <= 32:  # few risk levels (binary terms): count rows per level directly
        at_or_after = np.zeros((data.n + 1, levels))
        at_or_after[np.arange(data.n), rank] = 1
        at_or_after = np.cumsum(at_or_after[::-1], axis=0)[::-1]
        counts = at_or_after[start]  # comparable rows per risk level, for each death
        below = np.cumsum(counts, axis=1) - counts
        deaths = np.arange(len(level))
        concordant = below[deaths, level].sum()
        tied = counts[deaths, level].sum()
        discordant = counts.sum() - concordant - tied
        denominator = concordant + discordant + tied
        return float((concordant + tied / 2) / denominator) if denominator else None
    ranks_sorted = np.sort(rank)

    def from_start_below(value):
        """Rows at or after ``start`` whose risk rank is below ``value``."""
        everywhere = np.searchsorted(ranks_sorted, value, side="left")
        return everywhere - _prefix_below(rank, start, value)

    lower = from_start_below(level)
    lower_or_tied = from_start_below(level + 1)
    concordant = lower.sum()
    tied = (lower_or_tied - lower).sum()
    discordant = (data.n - start - lower_or_tied).sum()
    denominator = concordant + discordant + tied
    return float((concordant + tied / 2) / denominator) if denominator else None


def _prefix_below(values: np.ndarray, starts: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """For each query q, how many of ``values[:starts[q]]`` are below ``limits[q]``.

    The prefix [0, s) is the union of one aligned block of 2^L positions per set bit L of
    s; per level L the values are sorted within their blocks (one sort of block·K + value)
    and each query's block is searched: log2(n) vectorised passes instead of a loop."""
    n = len(values)
    width = int(max(values.max(initial=0), limits.max(initial=0))) + 2
    positions = np.arange(n)
    counts = np.zeros(len(starts), dtype=np.int64)
    for level in range(max(n, 1).bit_length()):
        size = 1 << level
        uses = ((starts >> level) & 1).astype(bool)
        if not uses.any():
            continue
        keys = np.sort((positions // size) * width + values)
        block = ((starts[uses] >> (level + 1)) << (level + 1)) // size
        counts[uses] += np.searchsorted(keys, block * width + limits[uses]) - np.searchsorted(
            keys, block * width
        )
    return counts


def zph_test(data: CoxData, beta, sums: Sums | None = None):
    """R's ``cox.zph(fit, transform="km", terms=TRUE)`` for single-column terms: the score
    test of adding g(t)·x_k (g = 1 − KM(t−), centred on the deaths), at β̂, per variable and
    globally. Returns (chisq per variable, P per variable, global chisq, global df).
    ``sums`` may give the risk-set sums at β already computed by the fit."""
    sums = sums if sums is not None else data._sums(np.asarray(beta, float), 2)
    m = data._term_weight
    # Kaplan-Meier over all rows, just before each distinct event time
    distinct, first = np.unique(data.time, return_index=True)
    at_risk = data.n - first
    deaths = np.bincount(np.searchsorted(distinct, data.time), weights=data.event)
    survival = np.cumprod(1 - deaths / at_risk)
    before = np.r_[1.0, survival[:-1]][np.searchsorted(distinct, data.event_times)]
    g_times = 1 - before
    g_times = g_times - np.average(g_times, weights=data.deaths_per_time)
    g = g_times[data._term_time]
    mean = sums.mean
    dead_g = np.repeat(g_times, data.deaths_per_time)
    dead_x = data.x[data.event]  # rows are in time order
    u = (dead_g[:, None] * dead_x).sum(axis=0) - (m[:, None] * g[:, None] * mean).sum(axis=0)
    p = data.p
    imat = np.zeros((2 * p, 2 * p))
    imat[:p, :p] = sums.information(m)
    imat[:p, p:] = imat[p:, :p] = sums.information(m * g)
    imat[p:, p:] = sums.information(m * g * g)
    full_u = np.r_[np.zeros(p), u]
    chisq = np.empty(p)
    for k in range(p):
        keep = np.r_[np.arange(p), p + k]
        vector = full_u[keep]
        chisq[k] = float(vector @ np.linalg.solve(imat[np.ix_(keep, keep)], vector))
    global_chisq = float(full_u @ np.linalg.solve(imat, full_u))
    return chisq, stats.chi2.sf(chisq, 1), global_chisq, p
