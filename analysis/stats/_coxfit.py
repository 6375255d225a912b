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


def _reverse_cumsum(values: np.ndarray) -> np.ndarray:
    return np.cumsum(values[::-1], axis=0)[::-1]


@dataclass
class Evaluation:
    """Log partial likelihood, score and information at one β (penalised under Firth)."""

    loglik: float
    score: np.ndarray
    information: np.ndarray


class CoxData:
    """Rows sorted by time, centred covariates and the risk-denominator layout of the
    chosen ties method; evaluates the (optionally Firth-penalised) partial likelihood."""

    def __init__(self, time, event, x, *, ties: str = "efron", firth: bool = False):
        if ties not in ("efron", "breslow"):
            raise ValueError(f"ties must be 'efron' or 'breslow', not {ties!r}")
        order = np.argsort(time, kind="stable")
        self.order = order
        self.time = np.asarray(time, dtype=float)[order]
        self.event = np.asarray(event, dtype=bool)[order]
        x = np.asarray(x, dtype=float)[order].reshape(len(order), -1)
        self.means = x.mean(axis=0) if len(x) else np.zeros(x.shape[1])
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

    def _sums(self, beta: np.ndarray, order: int):
        """Risk-set sums S0..S_order per risk denominator, and the shift taken out of η
        (exp(η − max η) cannot overflow; the shift is added back to log S0)."""
        eta = self.x @ beta
        shift = float(eta.max()) if self.n else 0.0
        w = np.exp(eta - shift)
        powers = [w]
        if order >= 1:
            powers.append(w[:, None] * self.x)
        if order >= 2:
            powers.append(np.einsum("ni,nj->nij", powers[1], self.x))
        if order >= 3:
            powers.append(np.einsum("nij,nk->nijk", powers[2], self.x))
        sums = []
        for power in powers:
            at_risk = _reverse_cumsum(power)[self._risk_start]
            dead = np.add.reduceat(power[self.event], self._dead_starts, axis=0)
            fraction = self._term_fraction.reshape((-1,) + (1,) * (power.ndim - 1))
            sums.append(at_risk[self._term_time] - fraction * dead[self._term_time])
        return eta, shift, sums

    def evaluate(self, beta, *, penalised: bool | None = None) -> Evaluation:
        beta = np.asarray(beta, dtype=float)
        penalised = self.firth if penalised is None else penalised
        eta, shift, sums = self._sums(beta, 3 if penalised else 2)
        s0, s1, s2 = sums[0], sums[1], sums[2]
        m = self._term_weight
        mean = s1 / s0[:, None]
        loglik = float(eta[self.event].sum() - (m * (np.log(s0) + shift)).sum())
        score = self._dead_x - (m[:, None] * mean).sum(axis=0)
        information = np.einsum(
            "t,tij->ij", m, s2 / s0[:, None, None] - mean[:, :, None] * mean[:, None, :]
        )
        if not penalised:
            return Evaluation(loglik, score, information)
        s3 = sums[3]
        sign, logdet = np.linalg.slogdet(information)
        if sign <= 0:
            return Evaluation(-math.inf, score, information)
        inverse = np.linalg.inv(information)
        # ∂I/∂β_r per denominator, from the derivative of S2/S0 − S1S1ᵀ/S0²
        a = s3 / s0[:, None, None, None]
        b = (s2 / s0[:, None, None])[:, :, :, None] * mean[:, None, None, :]
        c = (s2 / s0[:, None, None])[:, :, None, :] * mean[:, None, :, None]
        c = c + np.swapaxes(c, 1, 2)
        e = 2 * mean[:, :, None, None] * mean[:, None, :, None] * mean[:, None, None, :]
        derivative = np.einsum("t,tijr->ijr", m, a - b - c + e)
        correction = 0.5 * np.einsum("ij,jir->r", inverse, derivative)
        return Evaluation(loglik + 0.5 * logdet, score + correction, information)


@dataclass
class Fit:
    beta: np.ndarray
    evaluation: Evaluation
    iterations: int
    converged: bool


def newton_raphson(data: CoxData, beta0, *, free=None, penalised=None) -> Fit:
    """Maximise the (penalised) log partial likelihood over the ``free`` coefficients
    (the others stay where ``beta0`` puts them: a profile). Newton steps, halved while
    the likelihood falls; stops when the largest step is below STEP_TOLERANCE, far
    tighter than R's eps=1e-9 on the relative change of the log-likelihood."""
    beta = np.array(beta0, dtype=float)
    free = np.ones(data.p, bool) if free is None else np.asarray(free, bool)
    current = data.evaluate(beta, penalised=penalised)
    if not free.any():
        return Fit(beta, current, 0, True)
    scale = data.x.std(axis=0)
    scale[scale == 0] = 1.0
    for iteration in range(1, MAX_ITERATIONS + 1):
        sub = current.information[np.ix_(free, free)]
        try:
            step = np.linalg.solve(sub, current.score[free])
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(sub, current.score[free], rcond=None)[0]
        if not np.all(np.isfinite(step)):
            return Fit(beta, current, iteration, False)
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
            return Fit(beta, current, iteration, False)
        beta, current = trial, candidate
        if np.max(np.abs(step)) < STEP_TOLERANCE:
            return Fit(beta, current, iteration, True)
        if np.max(np.abs(beta * scale)) > DIVERGED:
            return Fit(beta, current, iteration, False)
    return Fit(beta, current, MAX_ITERATIONS, False)


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


def concordance(time, event, risk) -> float | None:
    """Harrell's C as R's ``concordance(coxph)``: over pairs where the shorter time is an
    event (a censored time equal to an event time counts as longer), the share with the
    higher risk on the shorter time, a tie in risk counting one half; pairs tied in time
    are not comparable."""
    time = np.asarray(time, float)
    event = np.asarray(event, bool)
    risk = np.asarray(risk, float)
    levels, rank = np.unique(risk, return_inverse=True)
    k = len(levels)
    order = np.lexsort((~event, time))  # within a time, events before censored
    time, event, rank = time[order], event[order], rank[order]
    n = len(time)
    if k > 256:
        return _concordance_pairs(time, event, rank)
    # how many rows of each risk level lie at or after each position
    indicator = np.zeros((n, k))
    indicator[np.arange(n), rank] = 1
    after = _reverse_cumsum(indicator)
    # an event's comparable rows start after the events tied with it: the later times
    # and the rows censored at its own time
    first_at_time = np.searchsorted(time, time, side="left")
    tied_events = np.bincount(first_at_time, weights=event, minlength=n)[first_at_time]
    start = first_at_time + tied_events.astype(int)
    counts = np.vstack([after, np.zeros((1, k))])[start]  # (n, k)
    below = np.cumsum(counts, axis=1) - counts  # levels below each level
    rows = np.flatnonzero(event)
    level = rank[rows]
    concordant = below[rows, level].sum()
    tied = counts[rows, level].sum()
    total = counts[rows].sum()
    discordant = total - concordant - tied
    denominator = concordant + discordant + tied
    return float((concordant + tied / 2) / denominator) if denominator else None


def _concordance_pairs(time, event, rank) -> float | None:
    concordant = discordant = tied = 0.0
    rows = np.flatnonzero(event)
    for chunk in np.array_split(rows, max(1, len(rows) // 500)):
        later = (time[None, :] > time[chunk, None]) | (
            (time[None, :] == time[chunk, None]) & ~event[None, :]
        )
        higher = rank[chunk, None] > rank[None, :]
        same = rank[chunk, None] == rank[None, :]
        concordant += (later & higher).sum()
        tied += (later & same).sum()
        discordant += (later & ~higher & ~same).sum()
    denominator = concordant + discordant + tied
    return float((concordant + tied / 2) / denominator) if denominator else None


def zph_test(data: CoxData, beta) -> tuple[np.ndarray, np.ndarray, float, int]:
    """R's ``cox.zph(fit, transform="km", terms=TRUE)`` for single-column terms: the score
    test of adding g(t)·x_k (g = 1 − KM(t−), centred on the deaths), at β̂, per variable and
    globally. Returns (chisq per variable, P per variable, global chisq, global df)."""
    beta = np.asarray(beta, float)
    _, _, (s0, s1, s2) = data._sums(beta, 2)
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
    mean = s1 / s0[:, None]
    variance = m[:, None, None] * (s2 / s0[:, None, None] - mean[:, :, None] * mean[:, None, :])
    dead_g = np.repeat(g_times, data.deaths_per_time)
    dead_x = data.x[data.event]  # rows are in time order
    u = (dead_g[:, None] * dead_x).sum(axis=0) - (m[:, None] * g[:, None] * mean).sum(axis=0)
    p = data.p
    imat = np.zeros((2 * p, 2 * p))
    imat[:p, :p] = variance.sum(axis=0)
    imat[:p, p:] = imat[p:, :p] = np.einsum("t,tij->ij", g, variance)
    imat[p:, p:] = np.einsum("t,tij->ij", g * g, variance)
    full_u = np.r_[np.zeros(p), u]
    chisq = np.empty(p)
    for k in range(p):
        keep = np.r_[np.arange(p), p + k]
        vector = full_u[keep]
        chisq[k] = float(vector @ np.linalg.solve(imat[np.ix_(keep, keep)], vector))
    global_chisq = float(full_u @ np.linalg.solve(imat, full_u))
    return chisq, stats.chi2.sf(chisq, 1), global_chisq, p
