"""Spearman's rho on resampled or permuted items without re-sorting each resample.

Every resample of a bootstrap, every leave-one-out set of a jackknife and every permutation of a paired
test draws its values from one fixed pool, so each value's average rank in the resample follows from the
pool's sorted order and how many times each pool value is in it: with `W_g` copies of tie group `g` (copies
of one item tie with each other), the group's average rank is (copies of all lower groups) + (W_g + 1) / 2,
a running total of the counts in sorted order. One sort of the pool, then O(B n) array work, instead of B
sorts. The sum of squared rank deviations needs no ranks at all: (S^3 - sum_g W_g^3) / 12 for S copies in
all (the tie-corrected (S^3 - S) / 12). `SpearmanResampler` sorts both columns once and then, per chunk of
count rows, takes the column with few tie groups (STS gold scores) as a table of group ranks and runs the
other one's counts in sorted order (`centred_ranks`); `spearman_permuted` does the same for the pooled
predictions of two models, where each permutation picks one value of each item for a'.

The jackknife has a closed form per left-out item (`spearman_jackknife`): ranks above the item drop by 1
(by 1/2 inside its tie group), and the sum of squared rank deviations is the tie-corrected formula; only the
per-item Kendall balance sum_j sign(x_j - x_i) sign(y_j - y_i) needs all pairs (`kendall_balance`: counting
per tie group of the coarser column when it has few groups, else all pairs in chunks of small integers).

Equal to re-ranking each resample (scipy.stats.rankdata "average") up to float rounding; the tests check it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 1 << 18      # values per chunk of counts (2 MiB of float64: the working set stays in cache)


@dataclass(frozen=True)
class RankPlan:
    """A pool's sorted order: `starts` and `sizes` of each tie group in sorted order, each value's group
    `gid`, `unique` when no two values tie; `tied`: the sorted positions in groups of two or more values,
    `tied_starts`: where each of those groups starts among them."""
    order: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    gid: np.ndarray
    unique: bool
    tied: np.ndarray
    tied_starts: np.ndarray

    @classmethod
    def of(cls, values) -> "RankPlan":
        v = np.asarray(values, dtype=np.float64)
        order = np.argsort(v, kind="stable")
        s = v[order]
        new = np.r_[True, s[1:] != s[:-1]]
        gid = np.empty(len(v), dtype=np.intp)
        gid[order] = np.cumsum(new) - 1
        starts = np.flatnonzero(new)
        sizes = np.diff(np.r_[starts, len(v)])
        multi = sizes > 1
        tied = np.repeat(multi, sizes)
        tied_starts = np.r_[0, np.cumsum(sizes[multi])[:-1]] if multi.any() else np.zeros(0, dtype=np.intp)
        return cls(order, starts, sizes, gid, bool(new.all()), np.flatnonzero(tied), tied_starts.astype(np.intp))

    @property
    def groups(self) -> int:
        return len(self.starts)

    def group_weights(self, w: np.ndarray) -> np.ndarray:
        """(c, G): the copies of each tie group in each multiset of counts w (c, P), groups in sorted order."""
        ws = np.take(w, self.order, axis=1)
        return ws if self.unique else np.add.reduceat(ws, self.starts, axis=1)


def centred_ranks(wg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each tie group's average rank minus the multiset's mean rank (c, G), the copies in all S (c,)), from
    the copies of each group in sorted order: lower copies + (W + 1) / 2 - (S + 1) / 2 = cum - W / 2 - S / 2."""
    r = np.cumsum(wg, axis=1)
    total = r[:, -1].copy()
    r -= 0.5 * wg
    r -= 0.5 * total[:, None]
    return r, total


def rank_ss(wg: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Sum over the multiset of squared deviations of the average ranks from their mean: (S^3 - sum W^3) / 12."""
    return (total ** 3 - np.einsum("ij,ij,ij->i", wg, wg, wg)) / 12.0


class RankTable:
    """Centred average ranks of one column's tie groups in weighted multisets (`centred_ranks` of its
    `group_weights`), with the sum of squared deviations. A shared table keeps its last answer, for the same
    counts array (the engine makes a new one per chunk and never changes it), so that several models'
    resamplers on a shared gold column rank it once per chunk of counts."""

    def __init__(self, plan: RankPlan, shared: bool = False):
        self.plan, self.shared, self._last = plan, shared, None

    def __call__(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._last is not None and self._last[0] is w:
            return self._last[1]
        wg = self.plan.group_weights(w)
        r, total = centred_ranks(wg)
        out = (r, total, rank_ss(wg, total))
        if self.shared:
            self._last = (w, out)
        return out


class SpearmanResampler:
    """Spearman's rho of weighted multisets of the pairs (x_i, y_i): both columns sorted once, then each
    call on counts w (c, n) is O(c n). The column with fewer tie groups (STS gold scores) is ranked as a
    table of groups (`RankTable`, shared through `shared` by the resamplers of other models on the same
    counts), the other one value by value in its sorted order."""

    def __init__(self, x, y, shared: dict | None = None):
        px, py = RankPlan.of(x), RankPlan.of(y)
        if px.groups > py.groups:          # rho is symmetric: the column with fewer tie groups is the table
            px, py, x = py, px, y
        key = ("spearman rank table", np.asarray(x, dtype=np.float64).tobytes())
        self.table = shared.setdefault(key, RankTable(px, True)) if shared is not None else RankTable(px)
        self.py = py
        self.x_in_y = px.gid[py.order]     # the table's group of each value, in the other column's order

    def __call__(self, w: np.ndarray) -> np.ndarray:
        rows = max(1, CHUNK // max(1, w.shape[1]))
        if len(w) <= rows:                 # the engine's chunks: the same array for every model
            return self._chunk(w)
        w = np.asarray(w, dtype=np.float64)
        out = [self._chunk(w[i:i + rows]) for i in range(0, len(w), rows)]
        return np.concatenate(out) if out else np.empty(0)

    def _chunk(self, w: np.ndarray) -> np.ndarray:
        w = np.asarray(w, dtype=np.float64)
        rx, total, ssx = self.table(w)
        py = self.py
        wy = np.take(w, py.order, axis=1)                       # counts in y's sorted order
        cum = np.cumsum(wy, axis=1)
        rxy = np.take(rx, self.x_in_y, axis=1)                  # x's centred ranks, in y's order
        # each value its own group (the copies of one item tie): rank cum - w/2 + 1/2, and as the sum of w rx
        # over the multiset is 0, y's ranks need no centring (nor the 1/2): cov = sum w (cum - w/2) rx
        cov = _dot3(wy, cum, rxy) - 0.5 * _dot3(wy, wy, rxy)
        cube = _dot3(wy, wy, wy)
        if len(py.tied):                       # values that tie: their group's average rank instead
            t, starts = py.tied, py.tied_starts
            wt, ct, rt = wy[:, t], cum[:, t], rxy[:, t]
            wg = np.add.reduceat(wt, starts, axis=1)
            group = ct[:, starts] - wt[:, starts] + 0.5 * wg     # lower copies + W/2
            cov += (np.einsum("ij,ij->i", group, np.add.reduceat(wt * rt, starts, axis=1))
                    - _dot3(wt, ct, rt) + 0.5 * _dot3(wt, wt, rt))
            cube += _dot3(wg, wg, wg) - _dot3(wt, wt, wt)
        ssy = (total ** 3 - cube) / 12.0
        return _ratio(cov, np.sqrt(ssx * ssy))


def _dot3(a, b, c) -> np.ndarray:
    return np.einsum("ij,ij,ij->i", a, b, c)


def spearman_weighted(x, y, w: np.ndarray) -> np.ndarray:
    """Spearman's rho of each weighted multiset of the pairs (x_i, y_i), w: (c, n) counts."""
    return SpearmanResampler(x, y)(w)


def spearman_permuted(gold, pred_a, pred_b, swap: np.ndarray) -> np.ndarray:
    """rho(gold, a') - rho(gold, b') for each row of `swap` (c, n): a' takes b's value where swap is True,
    b' takes a's (the paired permutation test of two models' predictions against the same gold).

    The pool is both models' predictions (2n values), sorted once; a' holds one value of each item, b' the
    other. Against centred gold ranks g (sum 0 over the items, so a' ranks need no centring), rho(a') =
    sum over a' of g * rank / sqrt(ss(a') ss(g)), a value's rank the running count of a' values in pool
    order (b': the other values), then the average over its tie group where pool values tie (`_tie_terms`)."""
    n = len(gold)
    g = average_ranks(gold) - 0.5 * (n + 1)
    ssg = g @ g
    plan = RankPlan.of(np.concatenate([pred_a, pred_b]))
    gp = np.concatenate([g, g])[plan.order]                    # gold rank of each pool value's item
    pos = np.arange(1, 2 * n + 1, dtype=np.float64)            # pool values up to each position
    pos_gp, all_gp = pos * gp, float(np.dot(pos, gp))
    where = np.empty(2 * n, dtype=np.intp)
    where[plan.order] = np.arange(2 * n)                       # each value's place in the pool
    pos_a, pos_b = pos_gp[where[:n]], pos_gp[where[n:]]
    out = []
    rows = max(1, CHUNK // max(1, 2 * n))
    for i in range(0, len(swap), rows):
        s = np.asarray(swap[i:i + rows], dtype=bool)
        sel = np.take(np.concatenate([~s, s], axis=1), plan.order, axis=1).astype(np.float64)  # in a'
        cum = np.cumsum(sel, axis=1)
        cube_a = cube_b = np.full(len(s), float(n))             # sum over tie groups of copies^3
        if len(plan.tied):
            (fix_a, cube_a), (fix_b, cube_b) = _tie_terms(plan, sel, cum, gp, pos)
        cum_gp = cum @ gp
        cum *= sel
        cross_a = cum @ gp                                      # sum over a' of g * rank
        in_a = pos_a.sum() + s.astype(np.float64) @ (pos_b - pos_a)     # sum over a' of g * place
        cross_b = all_gp - cum_gp - in_a + cross_a
        if len(plan.tied):
            cross_a, cross_b = cross_a + fix_a, cross_b + fix_b
        ss_a, ss_b = (n ** 3 - cube_a) / 12.0, (n ** 3 - cube_b) / 12.0
        out.append(_ratio(cross_a, np.sqrt(ss_a * ssg)) - _ratio(cross_b, np.sqrt(ss_b * ssg)))
    return np.concatenate(out) if out else np.empty(0)


def _tie_terms(plan: "RankPlan", sel, cum, gp, pos):
    """For a' and b' of spearman_permuted, where pool values tie: (what replacing running-count ranks by
    their tie group's average adds to sum g * rank, sum over tie groups of copies^3), each (c,)."""
    t, starts, n = plan.tied, plan.tied_starts, sel.shape[1] // 2
    sel_t, cum_t, gp_t, pos_t = sel[:, t], cum[:, t], gp[t], pos[t]
    out = []
    for mine, ranks, before in ((sel_t, cum_t, cum_t[:, starts] - sel_t[:, starts]),
                                (1.0 - sel_t, pos_t - cum_t, None)):
        w = np.add.reduceat(mine, starts, axis=1)               # copies of each tied group
        if before is None:   # b' values before the group: pool values before it that are not a''s
            before = (pos_t[starts] - 1.0) - out[0][2]
        avg = before + 0.5 * (w + 1)
        fix = np.einsum("ij,ij->i", avg, np.add.reduceat(mine * gp_t, starts, axis=1)) - (mine * ranks) @ gp_t
        cube = (n - w.sum(axis=1)) + np.einsum("ij,ij,ij->i", w, w, w)
        out.append((fix, cube, before))
    return (out[0][0], out[0][1]), (out[1][0], out[1][1])


def spearman_jackknife(x, y) -> np.ndarray:
    """Spearman's rho with each pair left out in turn (n values), in closed form."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(x)
    r, s = average_ranks(x), average_ranks(y)
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
    c_d = 0.25 * ((n - 1) + (n + 1 - 2 * r) + (n + 1 - 2 * s) + kendall_balance(gx, gy))
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


def kendall_balance(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """K_i = sum_j sign(x_j - x_i) sign(y_j - y_i), from dense ranks (tie group ids) gx, gy."""
    gx, gy = np.asarray(gx, dtype=np.intp), np.asarray(gy, dtype=np.intp)
    n = len(gx)
    if n == 0:
        return np.zeros(0)
    if gx.max() > gy.max():
        gx, gy = gy, gx                     # K is symmetric in x and y: count per group of the coarser one
    groups = int(gx.max()) + 1
    if groups * n > CHUNK * 16:
        return kendall_balance_pairs(gx, gy)
    # below[k, h]: items of x group h with y group < k (int32 counts, (Gy + 1, Gx))
    cells = np.zeros((int(gy.max()) + 2, groups), dtype=np.int32)
    np.add.at(cells, (gy + 1, gx), 1)
    below = np.cumsum(cells, axis=0, dtype=np.int32)
    sizes = below[-1]
    # per item i and x group h: (items of h with y above y_i) - (with y below y_i)
    d = sizes[None, :] - below[gy + 1] - below[gy]
    lower = np.cumsum(d, axis=1, dtype=np.int64)              # over x groups up to h
    rows = np.arange(n)
    before = np.where(gx > 0, lower[rows, gx - 1], 0)         # x groups below x_i
    return (lower[:, -1] - before - d[rows, gx] - before).astype(np.float64)


def kendall_balance_pairs(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """kendall_balance over all pairs, in chunks of rows, on small integers."""
    n = len(gx)
    dt = np.int16 if n < 32767 else np.int32
    a, b = gx.astype(dt), gy.astype(dt)
    out = np.empty(n, dtype=np.float64)
    rows = max(1, (CHUNK * 16) // max(1, n))
    for i in range(0, n, rows):
        sx = (a[None, :] > a[i:i + rows, None]).view(np.int8) - (a[None, :] < a[i:i + rows, None]).view(np.int8)
        sy = (b[None, :] > b[i:i + rows, None]).view(np.int8) - (b[None, :] < b[i:i + rows, None]).view(np.int8)
        out[i:i + rows] = (sx * sy).sum(axis=1, dtype=np.int64)
    return out


def average_ranks(v) -> np.ndarray:
    """1-based average ranks of one column (scipy.stats.rankdata "average")."""
    plan = RankPlan.of(v)
    r, total = centred_ranks(plan.sizes[None, :].astype(np.float64))
    return (r[0] + 0.5 * (total[0] + 1))[plan.gid]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
