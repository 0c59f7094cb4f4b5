"""Spearman's rho on resampled or permuted items without re-sorting each resample.

Every resample of a bootstrap, every leave-one-out set of a jackknife and every permutation of a paired
test draws its values from one fixed pool, so each value's average rank in the resample follows from the
pool's sorted order and how many times each pool value is in it: with `W_g` copies of tie group `g`, the
group's average rank is (copies of all lower groups) + (W_g + 1) / 2. One sort of the pool, then O(B n)
array work, instead of B sorts (`weighted_ranks`). The jackknife has a closed form per left-out item
(`spearman_jackknife`): ranks above the item drop by 1 (by 1/2 inside its tie group), and the sum of
squared rank deviations is the tie-corrected (m^3 - m)/12 formula; only the per-item Kendall balance
sum_j sign(x_j - x_i) sign(y_j - y_i) needs all pairs (chunked, on small integers).

Equal to re-ranking each resample (scipy.stats.rankdata "average") up to float rounding; the tests check it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 1 << 22


@dataclass(frozen=True)
class RankPlan:
    """A pool's sorted order: `starts` of each tie group in sorted order, and each value's group `gid`."""
    order: np.ndarray
    starts: np.ndarray
    gid: np.ndarray

    @classmethod
    def of(cls, values) -> "RankPlan":
        v = np.asarray(values, dtype=np.float64)
        order = np.argsort(v, kind="stable")
        s = v[order]
        new = np.r_[True, s[1:] != s[:-1]]
        gid = np.empty(len(v), dtype=np.intp)
        gid[order] = np.cumsum(new) - 1
        return cls(order, np.flatnonzero(new), gid)


def weighted_ranks(plan: RankPlan, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ranks (c, P) of every pool value within each weighted multiset, their mean (c,), the sum over the
    multiset of squared rank deviations from that mean (c,)). w: (c, P) non-negative counts."""
    cum = np.zeros((w.shape[0], w.shape[1] + 1))
    np.cumsum(w[:, plan.order], axis=1, out=cum[:, 1:])
    return ranks_from_cumulative(plan, cum)


def ranks_from_cumulative(plan: RankPlan, cum: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """weighted_ranks from the running totals of the weights in pool order, with a leading 0 (c, P + 1):
    a tie group's copies sit after all lower groups' and share their mean position."""
    before = cum[:, plan.starts]                                   # copies of all lower groups
    wg = cum[:, np.r_[plan.starts[1:], cum.shape[1] - 1]] - before  # copies of the group itself
    grank = before + 0.5 * (wg + 1)
    mean = 0.5 * (cum[:, -1] + 1)
    ss = (wg * (grank - mean[:, None]) ** 2).sum(axis=1)
    return grank[:, plan.gid], mean, ss


def spearman_weighted(x, y, w: np.ndarray) -> np.ndarray:
    """Spearman's rho of each weighted multiset of the pairs (x_i, y_i), w: (c, n) counts."""
    out = []
    px, py = RankPlan.of(x), RankPlan.of(y)
    rows = max(1, CHUNK // max(1, w.shape[1]))
    for i in range(0, len(w), rows):
        wc = w[i:i + rows]
        rx, mx, ssx = weighted_ranks(px, wc)
        ry, my, ssy = weighted_ranks(py, wc)
        cov = (wc * (rx - mx[:, None]) * (ry - my[:, None])).sum(axis=1)
        out.append(_ratio(cov, np.sqrt(ssx * ssy)))
    return np.concatenate(out) if out else np.empty(0)


def spearman_permuted(gold, pred_a, pred_b, swap: np.ndarray) -> np.ndarray:
    """rho(gold, a') - rho(gold, b') for each row of `swap` (c, n): a' takes b's value where swap is True,
    b' takes a's (the paired permutation test of two models' predictions against the same gold)."""
    n = len(gold)
    g = _average_ranks(gold)
    gc = g - 0.5 * (n + 1)
    ssg = (gc * gc).sum()
    plan = RankPlan.of(np.concatenate([pred_a, pred_b]))
    positions = np.arange(2 * n + 1, dtype=np.float64)
    out = []
    rows = max(1, CHUNK // max(1, 2 * n))
    for i in range(0, len(swap), rows):
        s = swap[i:i + rows]
        # a' holds a's value where not swapped and b's where swapped; b' the rest of the pool
        cum_a = np.zeros((len(s), 2 * n + 1))
        np.cumsum(np.concatenate([~s, s], axis=1)[:, plan.order], axis=1, out=cum_a[:, 1:])
        rho = []
        for cum, take_b in ((cum_a, s), (positions - cum_a, ~s)):
            r, mean, ss = ranks_from_cumulative(plan, cum)
            mine = np.where(take_b, r[:, n:], r[:, :n])
            rho.append(_ratio(((mine - mean[:, None]) * gc).sum(axis=1), np.sqrt(ss * ssg)))
        out.append(rho[0] - rho[1])
    return np.concatenate(out) if out else np.empty(0)


def spearman_jackknife(x, y) -> np.ndarray:
    """Spearman's rho with each pair left out in turn (n values), in closed form."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(x)
    r, s = _average_ranks(x), _average_ranks(y)
    gx, gy = RankPlan.of(x).gid, RankPlan.of(y).gid
    tx, ty = np.bincount(gx)[gx], np.bincount(gy)[gy]          # size of each item's tie group
    m, mu = n - 1, 0.5 * n                                     # items left, their mean rank
    sxx = _tie_corrected_ss(m, gx, tx)
    syy = _tie_corrected_ss(m, gy, ty)
    # sum over j != i of (r_j - c_ij)(s_j - d_ij), c_ij = [x_j > x_i] + [x_j == x_i, j != i] / 2
    above_y_r, tied_y_r = _above_and_tied(gy, r)
    above_x_s, tied_x_s = _above_and_tied(gx, s)
    r_d = above_y_r + 0.5 * (tied_y_r - r)
    c_s = above_x_s + 0.5 * (tied_x_s - s)
    c_d = 0.25 * ((n - 1) + (n + 1 - 2 * r) + (n + 1 - 2 * s) + _kendall_balance(gx, gy))
    cross = (r @ s - r * s) - r_d - c_s + c_d - m * mu * mu
    return _ratio(cross, np.sqrt(sxx * syy))


def _tie_corrected_ss(m: int, gid: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Sum of squared deviations of the average ranks of m = n - 1 items, item i's tie group one smaller."""
    sizes = np.bincount(gid).astype(np.float64)
    total = (sizes ** 3 - sizes).sum()
    t = t.astype(np.float64)
    ties = total - (t ** 3 - t) + ((t - 1) ** 3 - (t - 1))
    return ((m ** 3 - m) - ties) / 12.0


def _above_and_tied(gid: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per item i: the sum of `values` over items in higher groups, and over its own group (i included)."""
    sums = np.bincount(gid, weights=values)
    above = sums.sum() - np.cumsum(sums)
    return above[gid], sums[gid]


def _kendall_balance(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """K_i = sum_j sign(x_j - x_i) sign(y_j - y_i), on the dense ranks, in chunks of rows."""
    n = len(gx)
    dt = np.int16 if n < 32767 else np.int32
    a, b = gx.astype(dt), gy.astype(dt)
    out = np.empty(n, dtype=np.float64)
    rows = max(1, CHUNK // max(1, n))
    for i in range(0, n, rows):
        sx = (a[None, :] > a[i:i + rows, None]).view(np.int8) - (a[None, :] < a[i:i + rows, None]).view(np.int8)
        sy = (b[None, :] > b[i:i + rows, None]).view(np.int8) - (b[None, :] < b[i:i + rows, None]).view(np.int8)
        out[i:i + rows] = (sx * sy).sum(axis=1, dtype=np.int64)
    return out


def _average_ranks(v) -> np.ndarray:
    r, _, _ = weighted_ranks(RankPlan.of(v), np.ones((1, len(v))))
    return r[0]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
