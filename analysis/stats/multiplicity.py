"""Benjamini-Hochberg q-values for a family of P values (pure numpy).

A table of thirteen correlations (the paper's Table II) or a column of univariate Cox
models (Table IV) invites reading the smallest P values as findings; a q-value says
what false discovery rate calling each one significant would accept. This is R's
``p.adjust(p, method = "BH")``, checked against it in tests/analysis/r/multiplicity.R:

    q_(i) = min over j >= i of ( m / j * p_(j) ),  capped at 1,

with the P values sorted ascending and ``m`` the number of P values that are present:
a missing P (None, NaN) is no test, so it neither counts in ``m`` nor gets a q-value.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from analysis.stats._json import as_float

__all__ = ["benjamini_hochberg"]


def benjamini_hochberg(p_values: Iterable) -> list[float | None]:
    """q-values in the order of ``p_values``; None where a P value is missing.

    ValueError if a present P value lies outside [0, 1]: it is not a probability, and
    adjusting it would hide the mistake that made it."""
    values = [as_float(p) for p in p_values]
    for position, p in enumerate(values):
        if p is not None and not 0.0 <= p <= 1.0:
            raise ValueError(f"P value {p!r} at position {position + 1} is not between 0 and 1")
    present = np.array([i for i, p in enumerate(values) if p is not None], dtype=int)
    q_values: list[float | None] = [None] * len(values)
    if present.size == 0:
        return q_values
    p = np.array([values[i] for i in present], dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")[::-1]  # largest P first, as R's p.adjust
    ranks = np.arange(m, 0, -1)
    stepped = np.minimum.accumulate(m / ranks * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    for position, q in zip(present, adjusted, strict=True):
        q_values[int(position)] = float(q)
    return q_values
