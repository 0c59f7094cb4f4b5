"""ANN metrics (tasks/metrics/ann.py) against methods.md §6 hand-computed references, scipy and the
per-query reference loop in tasks/metrics/ir.py."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tasks.metrics.ann import (order_effects, overall_ratio, pareto_front, ranking_shift, ranks, recall_at_k,
                               ties_at_k)

# methods.md §6.1: GT ids a..e = 0..4 with distances [0.1, 0.2, 0.3, 0.3, 0.5], k = 3
GT_IDS = np.array([[0, 1, 2, 3, 4]])
GT_D = np.array([[0.1, 0.2, 0.3, 0.3, 0.5]])


def ann_benchmarks_knn_rule(gt_d, found_d, k, eps=1e-3):
    """ann-benchmarks' distance rule (metrics.py knn): found distance <= D[k-1] + 1e-3 is a hit."""
    return np.array([(fd[:k] <= g[k - 1] + eps).sum() / k for g, fd in zip(gt_d, found_d)])


@pytest.mark.parametrize("found, rid, rtie, ann_b", [
    ([0, 1, 3], 2 / 3, 1.0, 1.0),     # [a, b, d]: d is tied with c
    ([0, 1, 4], 2 / 3, 2 / 3, 2 / 3),  # [a, b, e]
])
def test_recall_reference_cases_methods_6_1(found, rid, rtie, ann_b):
    got_id, got_tie = recall_at_k(GT_IDS, GT_D, np.array([found]), 3)
    assert got_id[0] == pytest.approx(rid, abs=1e-12)
    assert got_tie[0] == pytest.approx(rtie, abs=1e-12)
    found_d = GT_D[0][np.array(found)][None, :]
    assert ann_benchmarks_knn_rule(GT_D, found_d, 3)[0] == pytest.approx(ann_b)


def test_short_result_counts_missing_as_misses():
    # [a, b] returned: either as a 2-column array or padded with -1; both 2/3 (divide by k, not by #returned)
    for found in (np.array([[0, 1]]), np.array([[0, 1, -1]])):
        rid, rtie = recall_at_k(GT_IDS, GT_D, found, 3)
        assert rid[0] == pytest.approx(2 / 3) and rtie[0] == pytest.approx(2 / 3)


def test_duplicate_returned_ids_raise_and_padding_does_not():
    with pytest.raises(ValueError, match="duplicate"):
        recall_at_k(GT_IDS, GT_D, np.array([[0, 0, 1]]), 3)
    recall_at_k(GT_IDS, GT_D, np.array([[0, -1, -1]]), 3)   # repeated -1 slots are not duplicates


def test_bad_shapes_and_k():
    with pytest.raises(ValueError, match="fewer than k"):
        recall_at_k(GT_IDS[:, :2], GT_D[:, :2], np.array([[0, 1]]), 3)
    with pytest.raises(ValueError, match="positive integer"):
        recall_at_k(GT_IDS, GT_D, np.array([[0, 1, 2]]), 0)
    with pytest.raises(ValueError, match="n_queries"):
        recall_at_k(GT_IDS, GT_D, np.array([[0, 1, 2], [0, 1, 2]]), 3)


def test_tie_tolerance_is_relative():
    # k-th distance 1e4: a neighbour 0.005 away counts as tied (rel 1e-6 * 1e4 = 0.01), 0.05 away does not
    gt_ids = np.array([[0, 1, 2, 3]])
    gt_d = np.array([[1.0, 1e4, 1e4 + 0.005, 1e4 + 0.05]])
    assert recall_at_k(gt_ids, gt_d, np.array([[0, 2]]), 2)[1][0] == 1.0
    assert recall_at_k(gt_ids, gt_d, np.array([[0, 3]]), 2)[1][0] == 0.5
    # small distances: the tolerance floor is 1e-6 absolute (max(1, |D_k|))
    gt_d2 = np.array([[0.1, 0.2, 0.2 + 5e-7, 0.2 + 5e-6]])
    assert recall_at_k(gt_ids, gt_d2, np.array([[0, 2]]), 2)[1][0] == 1.0
    assert recall_at_k(gt_ids, gt_d2, np.array([[0, 3]]), 2)[1][0] == 0.5
    assert ties_at_k(gt_d, 2) == 1 and ties_at_k(gt_d2, 2) == 1


def loop_recall(gt_ids, gt_dist, found_ids, k, rel_tol=1e-6):
    """Reference: per-query (recall_id@k, recall_tie@k) written as the rule reads (methods.md §6.1)."""
    rec_id, rec_tie = np.zeros(len(gt_ids)), np.zeros(len(gt_ids))
    for i in range(len(gt_ids)):
        found = {f for f in found_ids[i, :k].tolist() if f >= 0}
        dk = gt_dist[i, k - 1]
        extended = k + int(np.sum(np.abs(gt_dist[i, k:] - dk) <= rel_tol * max(1.0, abs(dk))))
        rec_id[i] = len(found & set(gt_ids[i, :k].tolist())) / k
        rec_tie[i] = len(found & set(gt_ids[i, :extended].tolist())) / k
    return rec_id, rec_tie


def test_vectorised_recall_equals_reference_loop():
    """Same numbers as a per-query loop on random data with ties and gaps."""
    rng = np.random.default_rng(0)
    nq, depth, k = 300, 20, 10
    gt_d = np.sort(np.round(rng.random((nq, depth)), 1), axis=1)        # rounding -> many exact ties
    gt_ids = np.array([rng.permutation(1000)[:depth] for _ in range(nq)])
    found = np.array([rng.permutation(np.r_[gt_ids[i], 1000 + np.arange(10)])[:k] for i in range(nq)])
    found[rng.random((nq, k)) < 0.05] = -1
    found = np.where(found >= 0, found, -1)
    # keep -1 padding but no duplicate real ids
    rid, rtie = recall_at_k(gt_ids, gt_d, found, k, block=7)
    ref_id, ref_tie = loop_recall(gt_ids, gt_d, found, k)
    np.testing.assert_allclose(rid, ref_id, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rtie, ref_tie, rtol=0, atol=1e-12)
    assert (rtie >= rid).all() and (rtie > rid).any()


def test_overall_ratio_hand_computed():
    ratio, rel_sum, n_inf = overall_ratio(np.array([[1.0, 2.0]]), np.array([[1.0, 4.0]]), 2)
    assert ratio == pytest.approx((1 + 2) / 2) and rel_sum == pytest.approx(5 / 3) and n_inf == 0
    ratio, _, n_inf = overall_ratio(np.array([[0.0, 2.0]]), np.array([[0.0, 2.0]]), 2)   # (0, 0) -> 1
    assert ratio == 1.0 and n_inf == 0
    ratio, _, n_inf = overall_ratio(np.array([[0.0, 2.0]]), np.array([[1.0, 2.0]]), 2)   # (0, >0) -> inf
    assert math.isinf(ratio) and n_inf == 1
    with pytest.raises(ValueError, match=">= 0"):
        overall_ratio(np.array([[-1.0]]), np.array([[1.0]]), 1)


def test_order_effects_two_std_rule():
    rand = [0.90, 0.92, 0.91, 0.93, 0.89]   # mean 0.91, sample std sqrt(0.001/4) = 1.5811 pp
    out = order_effects(rand, {"lid_desc": 0.95, "lid_asc": 0.93, "by_category": 0.87})
    assert out["random_mean"] == pytest.approx(0.91)
    assert out["random_std_pp"] == pytest.approx(100 * np.std(rand, ddof=1))
    assert out["random_std_pp"] == pytest.approx(1.58113883, rel=1e-8)
    e = out["effects"]
    assert e["lid_desc"]["effect_pp"] == pytest.approx(4.0) and e["lid_desc"]["flagged"]
    assert e["lid_asc"]["effect_pp"] == pytest.approx(2.0) and not e["lid_asc"]["flagged"]   # < 2 x 1.58
    assert e["by_category"]["effect_pp"] == pytest.approx(-4.0) and e["by_category"]["flagged"]
    single = order_effects([0.9], {"x": 0.5})
    assert math.isnan(single["random_std_pp"]) and not single["effects"]["x"]["flagged"]
    with pytest.raises(ValueError):
        order_effects([], {"x": 0.5})


def test_ranking_shift_against_scipy():
    from scipy.stats import kendalltau
    exact = {"a": 0.60, "b": 0.50, "c": 0.40, "d": 0.30}
    approx = {"a": 0.45, "b": 0.50, "c": 0.20, "d": 0.35}     # ranks: a 1->2, b 2->1, c 3->4, d 4->3
    out = ranking_shift(exact, approx)
    models = sorted(exact)
    ref = kendalltau([exact[m] for m in models], [approx[m] for m in models]).statistic
    assert out["kendall_tau"] == pytest.approx(ref) and out["kendall_tau"] == pytest.approx(1 / 3)
    assert out["max_position_change"] == 1
    assert out["rank_exact"] == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert out["rank_approx"] == {"b": 1, "a": 2, "d": 3, "c": 4}
    same = ranking_shift(exact, exact)
    assert same["kendall_tau"] == pytest.approx(1.0) and same["max_position_change"] == 0
    assert ranks({"x": 0.5, "y": 0.5, "z": 0.1}) == {"x": 1, "y": 1, "z": 3}
    with pytest.raises(ValueError, match="models differ"):
        ranking_shift(exact, {"a": 1.0})


def test_pareto_front_reference_methods_6_4():
    pts = [(0.5, 1000), (0.6, 900), (0.55, 800), (0.9, 100), (0.9, 50)]
    assert pareto_front(pts) == [(0.5, 1000), (0.6, 900), (0.9, 100)]
