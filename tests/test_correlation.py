"""tasks/metrics/correlation.py against scipy.stats on the same inputs (ties, constant sides, sizes)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import pearsonr, rankdata, spearmanr

from tasks.metrics.correlation import average_ranks, pearson, spearman


@pytest.mark.parametrize("seed", range(20))
def test_equal_to_scipy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 400))
    a = rng.normal(size=n)
    b = a * rng.normal() + rng.normal(size=n)
    if seed % 2:   # heavy ties on both sides
        a, b = np.round(a, 1), np.round(b * 3) / 3
    assert np.array_equal(average_ranks(a), rankdata(a))
    assert pearson(a, b) == pytest.approx(pearsonr(a, b)[0], abs=1e-12)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b)[0], abs=1e-12)


def test_float32_predictions_rank_as_scipy():
    rng = np.random.default_rng(7)
    p = rng.normal(size=1000).astype(np.float32)
    gold = rng.integers(0, 6, size=1000).astype(np.float64)
    assert spearman(gold, p) == pytest.approx(spearmanr(gold, p)[0], abs=1e-12)


def test_constant_side_is_nan_as_scipy():
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman([2, 2, 2], [1, 2, 3]))
