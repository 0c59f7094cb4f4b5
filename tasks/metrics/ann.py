"""ANN quality against exact search (methods.md §6, §1.2 steps 5-7). Pure numpy, no I/O.

- `recall_at_k`: per-query `recall_id@k` (|found[:k] ∩ gt[:k]| / k) and `recall_tie@k`
  (big-ann-benchmarks' rule with a *relative* tolerance: the ground truth is extended past position
  k with every id whose distance is within `rel_tol * max(1, |D_k|)` of the k-th distance). Missing
  results (id -1, or fewer than k columns) count as misses; duplicate returned ids raise. Vectorised
  over queries (blocks of `block` queries), so a 10^4-query sweep costs milliseconds; the tests check
  it against a per-query loop on the same inputs. Every task's ANN recall (retrieval, HNSW insertion
  order, ranking shift) is this one function.
- `overall_ratio`: mean_i (1/k) Σ_j d(q, found_ij) / d(q, true_ij) (ranked pairwise, >= 1) and
  `rel_sum` (Σ found / Σ true, ann-benchmarks' intent truncated to k), §6.2.
- `order_effects`: Δ = recall(order) − mean over random seeds, in percentage points, with the
  random-order std (ddof=1: R is small, so the sample std); an effect is *flagged* only when
  |Δ| > 2 × that std (methods.md §1.2 step 6).
- `ranking_shift`: Kendall τ between two model rankings and the largest position change (§1.2 step 7).
- `pareto_front`: the ann-benchmarks frontier (§6.4) lives in `harness.pareto`; re-exported
  here so metric callers need not know where the report keeps it.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from harness.pareto import pareto_front  # noqa: F401  (re-export: one implementation of §6.4)

REL_TOL = 1e-6


def _check_gt(gt_ids, gt_dists, found_ids, k: int):
    gt_ids = np.asarray(gt_ids)
    gt_dists = np.asarray(gt_dists, dtype=np.float64)
    found = np.asarray(found_ids)
    if gt_ids.ndim != 2 or gt_ids.shape != gt_dists.shape:
        raise ValueError(f"recall: ground-truth ids {gt_ids.shape} and distances {gt_dists.shape} must be the "
                         "same (n_queries, depth) shape")
    if found.ndim != 2 or len(found) != len(gt_ids):
        raise ValueError(f"recall: found ids {found.shape} must be (n_queries={len(gt_ids)}, n_returned)")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"recall: k must be a positive integer, got {k!r}")
    if gt_ids.shape[1] < k:
        raise ValueError(f"recall: ground truth holds {gt_ids.shape[1]} neighbours per query, fewer than k={k}")
    return gt_ids.astype(np.int64, copy=False), gt_dists, found.astype(np.int64, copy=False)


def check_unique_returned(found: np.ndarray) -> None:
    """Duplicate returned ids (other than the -1 'no result' slot) are an index bug: raise, naming the query."""
    s = np.sort(found, axis=1)
    dup = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
    if dup.any():
        q = int(np.flatnonzero(dup.any(axis=1))[0])
        raise ValueError(f"recall: query {q} has duplicate returned ids {sorted(found[q].tolist())}")


def recall_at_k(gt_ids, gt_dists, found_ids, k: int, *, rel_tol: float = REL_TOL,
                block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-query (recall_id@k, recall_tie@k), float64 arrays of length n_queries.

    `gt_*`: exact neighbours sorted by distance ("smaller is closer"), at least k columns; more
    columns let the tie rule see neighbours tied with the k-th. `found_ids`: the index's ids, best
    first; only the first k are read; -1 marks an empty slot.
    """
    gt_ids, gt_d, found = _check_gt(gt_ids, gt_dists, found_ids, k)
    found = found[:, :k]
    check_unique_returned(found)
    n = len(gt_ids)
    rec_id = np.zeros(n)
    rec_tie = np.zeros(n)
    for s in range(0, n, block):
        g, d, f = gt_ids[s:s + block], gt_d[s:s + block], found[s:s + block]
        dk = d[:, k - 1:k]
        tol = rel_tol * np.maximum(1.0, np.abs(dk))
        extended = np.abs(d - dk) <= tol
        extended[:, :k] = True                     # the first k always count; ties extend past k
        hit = (f[:, :, None] == g[:, None, :]) & (f[:, :, None] >= 0)
        rec_id[s:s + block] = hit[:, :, :k].any(axis=2).sum(axis=1) / k
        rec_tie[s:s + block] = (hit & extended[:, None, :]).any(axis=2).sum(axis=1) / k
    return rec_id, rec_tie


def ties_at_k(gt_dists, k: int, *, rel_tol: float = REL_TOL) -> int:
    """How many queries have a ground-truth neighbour past position k tied with the k-th (big-ann warns)."""
    d = np.asarray(gt_dists, dtype=np.float64)
    if d.shape[1] <= k:
        return 0
    dk = d[:, k - 1:k]
    return int((np.abs(d[:, k:] - dk) <= rel_tol * np.maximum(1.0, np.abs(dk))).any(axis=1).sum())


def overall_ratio(true_dists, found_dists, k: int) -> tuple[float, float, int]:
    """(overall_ratio@k, rel_sum@k, n_infinite) from non-negative distances (methods.md §6.2).

    Pairs are ranked: the j-th found distance over the j-th true distance. (0, 0) counts as 1;
    (0 true, > 0 found) as +inf, counted in `n_infinite` (the ratio is then inf). A missing result
    (+inf found distance) makes that pair infinite too.
    """
    t = np.asarray(true_dists, dtype=np.float64)[:, :k]
    f = np.asarray(found_dists, dtype=np.float64)[:, :k]
    if t.shape != f.shape:
        raise ValueError(f"overall_ratio: true {t.shape} and found {f.shape} distances differ in shape")
    if (t < 0).any() or (f < 0).any():
        raise ValueError("overall_ratio: distances must be >= 0 (for ip/cosine use the angular distance 1 - cos)")
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(t > 0, f / np.where(t > 0, t, 1.0), np.where(f > 0, np.inf, 1.0))
    n_inf = int(np.isinf(r).sum())
    ratio = float(r.mean()) if n_inf == 0 else math.inf
    denom = t.sum()
    rel_sum = float(f.sum() / denom) if denom > 0 else (1.0 if f.sum() == 0 else math.inf)
    return ratio, rel_sum, n_inf


def order_effects(random_recalls: Sequence[float], order_recalls: Mapping[str, float]) -> dict:
    """Order effect in percentage points against the random-seed baseline (methods.md §1.2 step 6).

    Returns {"random_mean", "random_std_pp", "n_random", "effects": {order: {"effect_pp",
    "flagged", "recall"}}}. With fewer than 2 random seeds the std is undefined (NaN) and nothing is
    flagged.
    """
    r = np.asarray(list(random_recalls), dtype=np.float64)
    if r.size == 0:
        raise ValueError("order_effects: need at least one random-order recall as the baseline")
    mean = float(r.mean())
    std_pp = float(r.std(ddof=1) * 100) if r.size >= 2 else math.nan
    effects = {}
    for name, rec in order_recalls.items():
        eff = (float(rec) - mean) * 100
        effects[name] = {"recall": float(rec), "effect_pp": eff,
                         "flagged": bool(not math.isnan(std_pp) and abs(eff) > 2 * std_pp)}
    return {"random_mean": mean, "random_std_pp": std_pp, "n_random": int(r.size), "effects": effects}


def ranks(scores: Mapping[str, float]) -> dict[str, int]:
    """1-based positions, best (highest) first; ties keep a shared, competition-style rank (1, 1, 3)."""
    vals = {m: float(v) for m, v in scores.items()}
    return {m: 1 + sum(1 for w in vals.values() if w > v) for m, v in vals.items()}


def ranking_shift(exact: Mapping[str, float], approx: Mapping[str, float]) -> dict:
    """Kendall τ (scipy's tau-b) between the model rankings by `exact` and by `approx` scores, and the
    largest absolute position change. Both map model -> score over the same models."""
    from scipy.stats import kendalltau
    models = sorted(exact)
    if sorted(approx) != models:
        raise ValueError(f"ranking_shift: models differ: exact {models} vs approx {sorted(approx)}")
    if len(models) < 2:
        raise ValueError("ranking_shift: need at least 2 models to rank")
    a = np.array([exact[m] for m in models], dtype=np.float64)
    b = np.array([approx[m] for m in models], dtype=np.float64)
    tau = kendalltau(a, b).statistic
    ra, rb = ranks(exact), ranks(approx)
    shifts = {m: rb[m] - ra[m] for m in models}
    return {"kendall_tau": float(tau) if tau == tau else math.nan,
            "max_position_change": int(max(abs(v) for v in shifts.values())),
            "rank_exact": ra, "rank_approx": rb, "position_change": shifts}
