"""Pearson and Spearman correlation in numpy, equal to `scipy.stats.pearsonr` / `spearmanr` (tests check
both on the same inputs, ties included) without importing scipy.stats: that import alone costs about a
second, most of a fully cached STS run, where every other step is answered by the embedding cache.
"""
from __future__ import annotations

import numpy as np


def average_ranks(x) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (scipy.stats.rankdata's "average" method)."""
    x = np.asarray(x)
    order = np.argsort(x, kind="mergesort")
    inverse = np.empty(order.size, dtype=np.intp)
    inverse[order] = np.arange(order.size, dtype=np.intp)
    sorted_x = x[order]
    starts = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    group = starts.cumsum()[inverse]                       # 1-based tie group of each element
    bounds = np.r_[np.flatnonzero(starts), len(starts)]   # first position of each group, then n
    return 0.5 * (bounds[group] + bounds[group - 1] + 1)


def pearson(a, b) -> float:
    """Pearson's r in float64 (NaN when either side is constant, as scipy)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = a - a.mean(), b - b.mean()
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(np.dot(a, b) / denom) if denom > 0 else float("nan")


def spearman(a, b) -> float:
    """Spearman's rho: Pearson's r of the average ranks."""
    return pearson(average_ranks(a), average_ranks(b))
