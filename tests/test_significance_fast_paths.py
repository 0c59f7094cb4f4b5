"""The O(B n) resampling paths (harness/rank_resampling.py, harness/contingency.py, harness/significance_engine.py)
against the straightforward computation: scipy.stats.spearmanr / sklearn's v_measure_score on the explicitly
resampled, permuted or left-out items; `paired_tests` against one `paired_test` per pair; and the level of the
Spearman permutation test the report and the gate run."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from harness import significance as S
from harness.contingency import v_measure_jackknife, v_measure_weighted
from harness.rank_resampling import (RankPlan, SpearmanResampler, average_ranks, kendall_balance,
                                     kendall_balance_pairs, spearman_jackknife, spearman_permuted)


def _rho(x, y) -> float:
    """scipy's Spearman rho (NaN, quietly, where a resample is constant)."""
    if np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return stats.spearmanr(x, y).statistic


def _columns(rng, n: int, kind: str):
    """gold and two predictions: STS-like (gold on a grid, predictions unique floats), tie-heavy (both
    rounded, predictions sharing values across models), or gold finer than the predictions."""
    gold = np.round(rng.uniform(0, 5, n) * 5) / 5
    a, b = gold / 5 + rng.normal(0, 0.3, n), gold / 5 + rng.normal(0, 0.3, n)
    if kind == "ties":
        a, b = np.round(a, 1), np.where(rng.random(n) < 0.3, np.round(a, 1), np.round(b, 1))
    elif kind == "coarse-pred":
        gold, a, b = rng.normal(size=n), np.round(a * 2) / 2, np.round(b * 2) / 2
    return gold, a, b


KINDS = ["sts", "ties", "coarse-pred"]


@pytest.mark.parametrize("kind", KINDS)
def test_weighted_spearman_equals_spearmanr_on_the_resampled_items(kind):
    rng = np.random.default_rng(11)
    for n in (2, 7, 150):
        gold, a, _ = _columns(rng, n, kind)
        idx = rng.integers(0, n, (12, n))
        fast = SpearmanResampler(gold, a)(S.counts(idx, n))
        plain = np.array([_rho(gold[i], a[i]) for i in idx])
        assert np.array_equal(np.isnan(fast), np.isnan(plain))
        assert np.allclose(fast, plain, rtol=0, atol=1e-12, equal_nan=True), (kind, n)
        # leave-one-out weights go through the same path as the closed-form jackknife
        if n > 2:
            loo = 1.0 - np.eye(n)
            plain_loo = [_rho(np.delete(gold, i), np.delete(a, i)) for i in range(n)]
            assert np.allclose(SpearmanResampler(gold, a)(loo), plain_loo, rtol=0, atol=1e-12, equal_nan=True)
            assert np.allclose(spearman_jackknife(gold, a), plain_loo, rtol=0, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("kind", KINDS)
def test_permuted_spearman_equals_spearmanr_on_the_swapped_predictions(kind):
    rng = np.random.default_rng(12)
    for n in (3, 40, 300):
        gold, a, b = _columns(rng, n, kind)
        swap = rng.random((9, n)) < 0.5
        fast = spearman_permuted(gold, a, b, swap)
        plain = [_rho(gold, np.where(s, b, a)) - _rho(gold, np.where(s, a, b)) for s in swap]
        assert np.allclose(fast, plain, rtol=0, atol=1e-12, equal_nan=True), (kind, n)


def test_rank_plan_and_kendall_balance():
    rng = np.random.default_rng(13)
    for n, levels in ((1, 1), (60, 3), (200, 15), (200, 400)):
        x, y = rng.integers(0, levels, n).astype(float), rng.normal(size=n).round(1)
        assert np.allclose(average_ranks(x), stats.rankdata(x), rtol=0, atol=1e-12)
        plan = RankPlan.of(x)
        assert plan.unique == (len(np.unique(x)) == n) and plan.sizes.sum() == n
        assert np.all(plan.sizes[plan.gid[plan.order[plan.tied]]] > 1)
        assert len(plan.tied) == plan.sizes[plan.sizes > 1].sum()
        gx, gy = plan.gid, RankPlan.of(y).gid
        both = np.sign(x[None, :] - x[:, None]) * np.sign(y[None, :] - y[:, None])
        assert np.array_equal(kendall_balance(gx, gy), both.sum(axis=1))
        assert np.array_equal(kendall_balance_pairs(gx, gy), both.sum(axis=1))


def test_v_measure_resampled_and_left_out_equal_sklearn():
    from sklearn.metrics import v_measure_score
    rng = np.random.default_rng(14)
    for n, k in ((2, 1), (50, 4), (400, 12)):
        lab = rng.integers(0, k, n)
        clu = np.where(rng.random(n) < 0.6, lab, rng.integers(0, k + 3, n))
        idx = rng.integers(0, n, (8, n))
        fast = v_measure_weighted(lab, clu, S.counts(idx, n))
        assert np.allclose(fast, [v_measure_score(lab[i], clu[i]) for i in idx], rtol=0, atol=1e-12)
        loo = [v_measure_score(np.delete(lab, i), np.delete(clu, i)) for i in range(n)]
        assert np.allclose(v_measure_jackknife(lab, clu), loo, rtol=0, atol=1e-12)


def test_counts_are_the_resamples_item_counts():
    rng = np.random.default_rng(15)
    idx = rng.integers(0, 37, (11, 37))
    assert np.array_equal(S.counts(idx, 37), np.stack([np.bincount(i, minlength=37) for i in idx]))
    assert np.array_equal(S.counts(idx.astype(np.int32), 37), S.counts(idx, 37))


@pytest.mark.parametrize("name", ["spearman", "mean", "v_measure"])
@pytest.mark.parametrize("method", ["permutation", "bootstrap"])
def test_paired_tests_equal_one_paired_test_per_pair(name, method):
    """Each model resampled once for every pair: the same numbers as testing each pair alone."""
    rng = np.random.default_rng(16)
    n = 120
    gold = np.round(rng.uniform(0, 5, n) * 5) / 5
    if name == "v_measure":
        lab = rng.integers(0, 5, n)
        models = [np.column_stack([lab, np.where(rng.random(n) < p, lab, rng.integers(0, 5, n))]).astype(float)
                  for p in (0.8, 0.7, 0.4)]
    elif name == "mean":
        models = [rng.normal(mu, 1, (n, 1)) for mu in (0.0, 0.1, 0.5)]
    else:
        models = [np.column_stack([gold, gold + rng.normal(0, s, n)]) for s in (1.0, 1.2, 3.0)]
        models[2][[4, 9], 1] = np.nan                                   # incomplete items too
    decl = {"statistic": name, "columns": [f"c{i}" for i in range(models[0].shape[1])]}
    together = S.paired_tests(models, decl, method=method, B=300, seed=4)
    alone = [S.paired_test(models[i], models[j], decl, method=method, B=300, seed=4)
             for i in range(3) for j in range(i + 1, 3)]
    assert together == alone
    assert S.paired_tests(models, decl, [(2, 0)], method=method, B=300, seed=4)[0] == \
        S.paired_test(models[2], models[0], decl, method=method, B=300, seed=4)


def test_spearman_permutation_test_keeps_its_level():
    """Two models equal in distribution (each the gold plus its own noise, rounded: ties within and across
    the models), Spearman against the shared gold through the fast permutation path: p <= 0.05 in 4-6% of
    4,000 simulated comparisons."""
    rng = np.random.default_rng(2025)
    reps, n, B = 4000, 40, 200
    stat = S.statistic("spearman")
    rejected = 0
    for i in range(reps):
        gold = np.round(rng.uniform(0, 5, n))
        a = np.column_stack([gold, np.round(gold + rng.normal(0, 2, n), 1)])
        b = np.column_stack([gold, np.round(gold + rng.normal(0, 2, n), 1)])
        null, n_perm, exact = S.permutation_null(stat, a, b, B, seed=i)
        rejected += S.two_sided_p(null, stat(a) - stat(b), n_perm, exact) <= 0.05
    assert 0.04 <= rejected / reps <= 0.06, rejected / reps


def test_one_blas_thread_keeps_results():
    from harness.significance_engine import one_blas_thread
    rng = np.random.default_rng(17)
    m = rng.normal(size=(200, 2))
    pearson = S.statistic("pearson")
    plain = S.bootstrap_distributions.__wrapped__([(pearson, m)], 200, 50, 3)[0]
    assert np.array_equal(one_blas_thread(lambda: S.bootstrap_distributions([(pearson, m)], 200, 50, 3)[0])(), plain)
