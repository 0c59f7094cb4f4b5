"""harness/significance.py against scipy.stats (bootstrap, permutation_test), its fast resampling paths against
re-ranking / refitting every resample, and its calibration (coverage, false positives) on simulated data."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from harness import significance as S
from harness.errors import DataError, HarnessError
from harness.item_statistics import STATISTICS, Statistic

MEAN = {"statistic": "mean", "columns": ["x"]}
SPEARMAN = {"statistic": "spearman", "columns": ["gold", "pred"]}


def _spearman_scipy(x, y, axis=-1):
    """Spearman's rho by scipy alone (rankdata + pearsonr), vectorised along `axis`."""
    return stats.pearsonr(stats.rankdata(x, axis=axis), stats.rankdata(y, axis=axis), axis=axis).statistic


def _sts_like(n=150, seed=0):
    rng = np.random.default_rng(seed)
    gold = np.round(rng.uniform(0, 5, n) * 5) / 5          # ties, as STS gold scores have
    pred = np.round(gold / 5 + rng.normal(0, 0.25, n), 2)   # ties in the predictions too
    return gold, pred


def _scipy_ci(data, statistic, method, seed, B=10_000):
    res = stats.bootstrap(data, statistic, n_resamples=B, method=method, paired=True, vectorized=True,
                          rng=np.random.default_rng(seed))
    return np.array([res.confidence_interval.low, res.confidence_interval.high])


CASES = {
    "mean": (lambda: (np.random.default_rng(3).exponential(size=120),), np.mean, MEAN),
    "spearman": (lambda: _sts_like(), _spearman_scipy, SPEARMAN),
}


@pytest.mark.parametrize("method", ["percentile", "BCa"])
@pytest.mark.parametrize("case", list(CASES))
def test_interval_agrees_with_scipy_bootstrap(case, method):
    make, scipy_stat, decl = CASES[case]
    data = make()
    items = np.column_stack(data)
    ours = S.bootstrap_ci(items, decl, B=10_000, seed=7)
    mine = np.array(ours["bca" if method == "BCa" else "percentile"])
    assert ours["method"] == "BCa" and ours["B"] == 10_000 and ours["seed"] == 7 and ours["n_items"] == len(items)
    # the same seed draws the same resamples as scipy: the same interval up to rounding
    same = _scipy_ci(data, scipy_stat, method, seed=7)
    assert np.allclose(mine, same, rtol=0, atol=1e-9 * (same[1] - same[0])), (mine, same)
    # other draws: endpoints within 5% of the interval's width (the acceptance criterion, B = 10,000)
    other = _scipy_ci(data, scipy_stat, method, seed=12345)
    width = other[1] - other[0]
    assert np.all(np.abs(mine - other) <= 0.05 * width), (mine, other, width)


def test_permutation_p_equals_scipy_with_the_same_permutations():
    rng = np.random.default_rng(5)
    base = rng.normal(size=40)
    a, b = base + rng.normal(0, 1, 40) + 0.3, base + rng.normal(0, 1, 40)

    def diff(x, y, axis=-1):
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)
    for seed, B in ((1, 5000), (2, 999)):
        theirs = stats.permutation_test((a, b), diff, permutation_type="samples", n_resamples=B, vectorized=True,
                                        rng=np.random.default_rng(seed))
        ours = S.paired_test(a[:, None], b[:, None], MEAN, B=B, seed=seed)
        assert ours["p_value"] == theirs.pvalue and not ours["exact"]
        assert ours["difference"] == pytest.approx(theirs.statistic, abs=1e-15)
    # Spearman against shared gold: swapping two models' predictions per pair
    gold, pa = _sts_like(60, seed=1)
    _, pb = _sts_like(60, seed=2)

    def rho_diff(x, y, axis=-1):
        g = np.broadcast_to(gold, np.shape(x))
        return _spearman_scipy(g, x, axis=axis) - _spearman_scipy(g, y, axis=axis)
    theirs = stats.permutation_test((pa, pb), rho_diff, permutation_type="samples", n_resamples=2000,
                                    vectorized=True, rng=np.random.default_rng(3))
    ours = S.paired_test(np.column_stack([gold, pa]), np.column_stack([gold, pb]), SPEARMAN, B=2000, seed=3)
    assert ours["p_value"] == theirs.pvalue


def test_exhaustive_permutations_equal_scipy_exact_test():
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=10) + 0.5, rng.normal(size=10)
    theirs = stats.permutation_test((a, b), lambda x, y, axis=-1: np.mean(x, axis) - np.mean(y, axis),
                                    permutation_type="samples", n_resamples=5000, vectorized=True, rng=0)
    ours = S.paired_test(a[:, None], b[:, None], MEAN, B=5000, seed=0)
    assert ours["exact"] and ours["p_value"] == theirs.pvalue   # all 2**10 sign patterns, no +1 adjustment


def test_equal_seeds_equal_results_and_other_seeds_differ():
    gold, pred = _sts_like(200)
    items = np.column_stack([gold, pred])
    other = np.column_stack([gold, _sts_like(200, seed=9)[1]])
    assert S.bootstrap_ci(items, SPEARMAN, B=500, seed=3) == S.bootstrap_ci(items, SPEARMAN, B=500, seed=3)
    assert S.bootstrap_ci(items, SPEARMAN, B=500, seed=3) != S.bootstrap_ci(items, SPEARMAN, B=500, seed=4)
    for method in ("permutation", "bootstrap"):
        first = S.paired_test(items, other, SPEARMAN, method=method, B=500, seed=3)
        assert first == S.paired_test(items, other, SPEARMAN, method=method, B=500, seed=3)
        assert json.loads(json.dumps(first)) == first   # plain JSON


def test_coverage_of_95_percent_intervals():
    """1,000 simulated data sets with a known mean (one call: every set is a score over the same resamples)."""
    rng = np.random.default_rng(2024)
    n, sets, mean = 200, 1000, 0.5
    data = rng.normal(mean, 0.2, size=(n, sets))
    names = [f"s{i}" for i in range(sets)]
    decl = {"columns": names, "scores": {c: {"statistic": "mean", "columns": [c]} for c in names}}
    out = S.intervals(data, decl, B=1000, seed=1)
    for kind in ("bca", "percentile"):
        ends = np.array([out[c][kind] for c in names])
        covered = np.mean((ends[:, 0] <= mean) & (mean <= ends[:, 1]))
        assert 0.93 <= covered <= 0.97, (kind, covered)


def test_paired_permutation_false_positive_rate():
    """Two models equal but for item-level noise: p <= 0.05 in 4-6% of 4,000 simulated comparisons."""
    rng = np.random.default_rng(77)
    reps, n = 4000, 30
    base = rng.normal(size=(reps, n))
    a, b = base + rng.normal(size=(reps, n)), base + rng.normal(size=(reps, n))
    p = np.array([S.paired_test(a[i, :, None], b[i, :, None], MEAN, B=200, seed=i)["p_value"] for i in range(reps)])
    assert 0.04 <= np.mean(p <= 0.05) <= 0.06, np.mean(p <= 0.05)


# -- fast resampling paths against the plain statistic on every resampled matrix ------------------------------------
def _plain(stat: Statistic) -> Statistic:
    return Statistic(stat.name, stat.fn, stat.n_columns)


@pytest.mark.parametrize("name", ["spearman", "pearson", "mean_all", "v_measure"])
def test_fast_paths_equal_recomputing_every_resample(name):
    rng = np.random.default_rng(4)
    n = 80
    if name == "v_measure":
        lab = rng.integers(0, 6, n)
        items = np.column_stack([lab, np.where(rng.random(n) < 0.7, lab, rng.integers(0, 6, n))]).astype(float)
        other = np.column_stack([lab, rng.integers(0, 6, n)]).astype(float)
    elif name == "mean_all":
        items, other = (rng.random((n, 4)) < 0.7).astype(float), (rng.random((n, 4)) < 0.6).astype(float)
    else:
        gold, pred = _sts_like(n, seed=5)
        items, other = np.column_stack([gold, pred]), np.column_stack([gold, _sts_like(n, seed=6)[1]])
    fast = STATISTICS[name]
    idx = rng.integers(0, n, (30, n))
    assert np.allclose(fast.weighted(items, S.counts(idx, n)), fast.fn(items[idx]), rtol=0, atol=1e-12)
    if name == "v_measure":
        from sklearn.metrics import v_measure_score
        assert np.allclose(fast.fn(items[idx]), [v_measure_score(items[i, 0], items[i, 1]) for i in idx], atol=1e-12)
    assert np.allclose(S.jackknife(fast, items), S.jackknife(_plain(fast), items), rtol=0, atol=1e-12)
    if fast.permuted is not None:
        swap = rng.random((30, n)) < 0.5
        plain = fast.fn(np.where(swap[..., None], other, items)) - fast.fn(np.where(swap[..., None], items, other))
        assert np.allclose(fast.permuted(items, other, swap), plain, rtol=0, atol=1e-12)
    decl = {"statistic": name, "columns": [f"c{i}" for i in range(items.shape[1])]}
    a = S.bootstrap_ci(items, decl, B=300, seed=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(STATISTICS, name, _plain(fast) if not fast.recentre else
                   Statistic(name, fast.fn, fast.n_columns, recentre=True))
        b = S.bootstrap_ci(items, decl, B=300, seed=2)
    assert a.keys() == b.keys() and all(np.allclose(a[k], b[k], atol=1e-12) if a[k] is not None else b[k] is None
                                        for k in a if k != "method"), (a, b)


def test_incomplete_items_are_left_out_consistently():
    """Word pairs out of a model's vocabulary: NaN predictions; the statistic, its resamples and its jackknife
    leave them out, and the fast paths give what recomputing every resample gives."""
    gold, pred = _sts_like(90, seed=3)
    pred = pred.copy()
    pred[[3, 10, 11, 50]] = np.nan
    items = np.column_stack([gold, pred])
    ok = ~np.isnan(pred)
    assert S.statistic("spearman")(items) == STATISTICS["spearman"](items[ok])
    fast = S.bootstrap_ci(items, SPEARMAN, B=400, seed=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(STATISTICS, "spearman", _plain(STATISTICS["spearman"]))
        plain = S.bootstrap_ci(items, SPEARMAN, B=400, seed=1)
    assert np.allclose(fast["bca"], plain["bca"], atol=1e-12) and fast["n_items"] == 90
    other = np.column_stack([gold, np.where(ok, _sts_like(90, seed=4)[1], np.nan)])
    res = S.paired_test(items, other, SPEARMAN, B=300, seed=1)
    assert 0 < res["p_value"] <= 1 and res["low"] <= res["difference"] <= res["high"]


def test_v_measure_interval_is_recentred_on_the_estimate():
    """Duplicated documents inflate V-measure; its bootstrap distribution is recentred on the reported score."""
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 20, 600)
    items = np.column_stack([lab, np.where(rng.random(600) < 0.6, lab, rng.integers(0, 20, 600))]).astype(float)
    out = S.bootstrap_ci(items, {"statistic": "v_measure", "columns": ["label", "cluster"]}, B=500, seed=1)
    assert out["recentred"] and out["bias"] > 0 and out["low"] < out["estimate"] < out["high"]


def test_holm():
    assert S.holm([0.01, 0.04, 0.03, None, 0.2]) == pytest.approx([0.04, 0.09, 0.09, None, 0.2])
    assert S.holm([]) == [] and S.holm([0.5]) == [0.5] and S.holm([0.04, 0.03]) == pytest.approx([0.06, 0.06])
    p = np.random.default_rng(1).random(12)
    adj = np.array(S.holm(p))
    assert np.all(adj >= p) and np.all(adj <= 1)
    order = np.argsort(p)
    assert np.all(np.diff(adj[order]) >= 0)   # monotone in the raw p-values


def test_bad_input_names_what_is_wrong(tmp_path):
    with pytest.raises(HarnessError, match="unknown item statistic 'median'.*valid: mean"):
        S.statistic("median")
    with pytest.raises(HarnessError, match="needs 2 column"):
        S.bootstrap_ci(np.ones((5, 1)), {"statistic": "spearman", "columns": ["g"]}, B=10)
    with pytest.raises(HarnessError, match="not in the items' columns"):
        S.bootstrap_ci(np.ones((5, 2)), MEAN, B=10, columns=["a", "b"])
    with pytest.raises(HarnessError, match="differ in shape"):
        S.paired_test(np.ones((5, 1)), np.ones((6, 1)), MEAN, B=10)
    with pytest.raises(HarnessError, match="B .* positive integer"):
        S.bootstrap_ci(np.ones((5, 1)), MEAN, B=0)
    with pytest.raises(HarnessError, match="method must be"):
        S.paired_test(np.ones((5, 1)), np.ones((5, 1)), MEAN, method="t-test", B=10)
    # load_items: absent -> None; a sidecar whose columns disagree with declared.items -> error naming the file
    result_file = tmp_path / "Task.json"
    result = {"declared": {"items": {"columns": ["a", "b"], "scores": {"a": {"statistic": "mean", "columns": ["a"]}}}}}
    assert S.load_items(result_file, result) is None and S.load_items(result_file, {"declared": {}}) is None
    np.save(tmp_path / "Task.items.npy", np.ones((4, 3)))
    with pytest.raises(DataError, match=r"Task.items.npy.*shape \(4, 3\).*2 column"):
        S.load_items(result_file, result)
    np.save(tmp_path / "Task.items.npy", np.ones((4, 2)))
    assert S.load_items(result_file, result).shape == (4, 2)
    with pytest.raises(HarnessError, match="wrote no 'items' sidecar"):
        S.checked_items(None, result["declared"]["items"], "task T")


def test_degenerate_items_fall_back_to_percentile():
    out = S.bootstrap_ci(np.ones((20, 1)), MEAN, B=200, seed=0)   # every resample equal: BCa undefined
    assert out["method"] == "percentile" and out["low"] == out["high"] == 1.0 and out["bca"] == [None, None]
    one = S.bootstrap_ci(np.array([[0.3]]), MEAN, B=50, seed=0)
    assert one["n_items"] == 1 and one["low"] == one["high"] == 0.3


def test_runner_writes_items_and_intervals(tmp_path):
    """Through the runner: the items sidecar, declared.items and one interval per declared score (B and the
    task's seed recorded), all valid under the result schema; the interval is generic (no task knowledge)."""
    from harness.result_schema import problems
    from harness.runner import JobSpec, RunSettings, run_job

    from . import toy_tasks
    toy_tasks.write_sts(tmp_path / "data", "toy0", n=60)
    toy_tasks.register()
    settings = RunSettings(results_dir=str(tmp_path / "results"), data_root=str(tmp_path / "data"),
                           cache_dir=str(tmp_path / "cache"), progress=False)
    outcome = run_job(JobSpec("toy-hash", "ToySTS0"), settings)
    assert outcome.status == "ok", outcome.error
    result = json.loads(open(outcome.path).read())
    assert problems(result) == []
    items = S.load_items(outcome.path, result)
    assert items.shape == (60, 4)
    decl = result["declared"]["items"]
    assert set(result["intervals"]) == set(decl["scores"])
    again = S.intervals(items, decl, B=S.DEFAULT_B, seed=result["seed"])
    assert result["intervals"] == json.loads(json.dumps(again))
    ci = result["intervals"]["cosine_spearman"]
    assert ci["B"] == S.DEFAULT_B and ci["seed"] == 42 and ci["estimate"] == result["main_score"]
    assert "intervals" in result["timings_s"]
