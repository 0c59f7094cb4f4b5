"""Statistics over per-item matrices, by name: how a task's main score is recomputed from its `items` sidecar.

A statistic takes a matrix of items (rows) by columns, `(n, cols)`, or a batch of them, `(B, n, cols)`, and
returns one value per matrix (a float, or a `(B,)` array). Names, as tasks declare them in `item_scores`:

- `mean`: the mean of one column (per-query nDCG@10, per-subset V-measure, ...);
- `mean_all`: the mean over columns of each column's mean (classification: accuracy = the mean over
  experiments of per-sample correctness, one column per experiment; clustering: the mean over levels);
- `spearman`, `pearson`: the correlation of two columns, gold then predicted (STS, word similarity);
- `v_measure`: V-measure of two columns, gold label then assigned cluster, as integer codes (a clustering
  of one set, resampled by document: harness/contingency.py). Duplicated documents inflate it (plug-in
  mutual information), so its bootstrap distribution is recentred on the estimate (`recentre`).

Besides the plain function, a statistic may know faster ways to be resampled, which harness/significance.py
uses: `weighted(m, w)` (its value on every multiset of the items given by counts w (c, n): a bootstrap
resample is a row of counts; `prepare(m)` gives the same as a function of w alone, with the work that
depends only on m, such as sorting, done once), `jackknife(m)` (the n leave-one-out values) and
`permuted(a, b, swap)` (a paired permutation's null values stat(a') - stat(b')). Means are linear (a matrix
product with the counts), Pearson's r needs five weighted sums, Spearman's rho ranks by counting
(harness/rank_resampling.py), V-measure sums contingency cells (harness/contingency.py).
Items with a non-finite value in a statistic's columns are left out of it (`complete_rows`); the fast paths
assume complete matrices and harness/significance.py gives them one. On one matrix the correlations are the
tasks' own functions (tasks/metrics/correlation.py), so the
statistic of a sidecar is bit for bit the score the task reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import HarnessError

CHUNK = 1 << 18      # values per chunk where a fast path works on chunks of permutations


@dataclass(frozen=True)
class Statistic:
    name: str
    fn: Callable[[np.ndarray], np.ndarray]          # (..., n, cols) -> (...)
    n_columns: int | None                           # None: any number (at least one)
    per_item: Callable | None = None                # (n, cols) -> (n,) whose mean is the statistic (linear)
    weighted: Callable | None = None                # (m (n, cols), w (c, n) counts) -> (c,)
    jackknife: Callable | None = None               # m (n, cols) -> (n,) leave-one-out values
    permuted: Callable | None = None                # (a, b, swap (c, n) bool) -> (c,) stat(a') - stat(b')
    # False where swapping one item's values between two models means nothing (cluster ids of two clusterings):
    # paired tests then use the paired bootstrap
    permutable: bool = True
    # True where the statistic is biased under resampling with replacement (plug-in mutual information grows
    # with duplicated items): the bootstrap distribution is recentred on the estimate before intervals and
    # bootstrap p-values are read from it (the block records "recentred": true and the bias removed)
    recentre: bool = False
    # (m (n, cols), shared dict or None) -> (w (c, n) counts -> (c,)): `weighted` with the work that depends
    # only on m done once (sorting, per-item values), for the many chunks of one resampling (`resampler`)
    prepare: Callable | None = None

    def __call__(self, matrix) -> np.ndarray | float:
        m = np.asarray(matrix, dtype=np.float64)
        if m.ndim not in (2, 3):
            raise HarnessError(f"statistic {self.name!r}: items must be (n, columns) or (B, n, columns); "
                               f"got shape {m.shape}")
        self.check_columns(m.shape[-1])
        out = self.fn(m)
        return float(out) if m.ndim == 2 else out

    def resampler(self, m: np.ndarray, shared: dict | None = None) -> Callable[[np.ndarray], np.ndarray]:
        """w (c, n) counts -> the statistic of each weighted multiset of m's items (needs `weighted`).
        `shared`: a dict that the resamplers of one resampling share (several models' matrices on the same
        counts: work common to them, such as the ranks of a shared gold column, is done once)."""
        if self.prepare is not None:
            return self.prepare(m, shared)
        return lambda w: self.weighted(m, w)

    def check_columns(self, n_cols: int, where: str = "") -> None:
        if (self.n_columns is not None and n_cols != self.n_columns) or n_cols < 1:
            need = self.n_columns if self.n_columns is not None else "at least 1"
            raise HarnessError(f"{where}statistic {self.name!r} needs {need} column(s), got {n_cols}")


def batched_ranks(x: np.ndarray) -> np.ndarray:
    """Average 1-based ranks along the last axis (ties share their mean rank, as
    scipy.stats.rankdata(method="average")), every leading index ranked on its own."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    order = np.argsort(x, axis=-1, kind="stable")
    s = np.take_along_axis(x, order, axis=-1)
    pos = np.broadcast_to(np.arange(n), s.shape)
    new = np.ones(s.shape, dtype=bool)
    new[..., 1:] = s[..., 1:] != s[..., :-1]
    first = np.maximum.accumulate(np.where(new, pos, 0), axis=-1)
    ends = np.ones(s.shape, dtype=bool)
    ends[..., :-1] = new[..., 1:]
    last = np.flip(np.minimum.accumulate(np.flip(np.where(ends, pos, n - 1), -1), axis=-1), -1)
    ranks = np.empty(s.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, 0.5 * (first + last) + 1.0, axis=-1)
    return ranks


def batched_pearson(a: np.ndarray, b: np.ndarray, ok: np.ndarray | None = None) -> np.ndarray:
    """Pearson's r along the last axis (NaN where either side is constant); `ok`: only those positions."""
    if ok is not None:
        k = ok.sum(axis=-1, keepdims=True)
        a, b = np.where(ok, a, 0.0), np.where(ok, b, 0.0)
        a = np.where(ok, a - a.sum(axis=-1, keepdims=True) / k, 0.0)
        b = np.where(ok, b - b.sum(axis=-1, keepdims=True) / k, 0.0)
    else:
        a = a - a.mean(axis=-1, keepdims=True)
        b = b - b.mean(axis=-1, keepdims=True)
    return _ratio((a * b).sum(axis=-1), np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1)))


def complete_rows(m: np.ndarray) -> np.ndarray:
    """(..., n) mask of the items whose every column is finite (the others are left out of a statistic:
    a word pair outside a model's vocabulary, say)."""
    return np.isfinite(m).all(axis=-1)


def _ratio(num, den):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _masked_mean(v, ok):
    return np.where(ok, v, 0.0).sum(axis=-1) / ok.sum(axis=-1)


def _mean(m):
    ok = complete_rows(m)
    return m[..., 0].mean(axis=-1) if ok.all() else _masked_mean(m[..., 0], ok)


def _mean_all(m):
    ok = complete_rows(m)
    if ok.all():
        return m.mean(axis=-2).mean(axis=-1)
    return _masked_mean(np.where(ok[..., None], m, 0.0).mean(axis=-1), ok)


# -- linear statistics --------------------------------------------------------------------------------
def _linear(name: str, n_columns, per_item: Callable, fn: Callable) -> Statistic:
    def weighted(m, w):
        return (w @ per_item(m)) / w.sum(axis=1)

    def prepare(m, shared=None):
        v = per_item(m)
        return lambda w: (w @ v) / w.sum(axis=1)

    def jackknife(m):
        v = per_item(m)
        return (v.sum() - v) / (len(v) - 1)

    def permuted(a, b, swap):
        d = per_item(a) - per_item(b)
        return _by_rows(lambda s: np.where(s, -1.0, 1.0) @ d / len(d), swap, len(d))

    return Statistic(name, fn, n_columns, per_item, weighted, jackknife, permuted, prepare=prepare)


# -- correlations ---------------------------------------------------------------------------------------
def _pearson(m):
    ok = complete_rows(m)
    if m.ndim == 2:
        from tasks.metrics.correlation import pearson
        return pearson(m[ok, 0], m[ok, 1])
    return batched_pearson(m[..., 0], m[..., 1], None if ok.all() else ok)


def _spearman(m):
    ok = complete_rows(m)
    if m.ndim == 2:
        from tasks.metrics.correlation import spearman
        return spearman(m[ok, 0], m[ok, 1])
    if ok.all():
        return batched_pearson(batched_ranks(m[..., 0]), batched_ranks(m[..., 1]))
    # incomplete rows rank above every complete one, so the complete rows' ranks are their ranks among themselves
    x, y = np.where(ok, m[..., 0], np.inf), np.where(ok, m[..., 1], np.inf)
    return batched_pearson(batched_ranks(x), batched_ranks(y), ok)


def _pearson_moments(m):
    x, y = m[:, 0] - m[:, 0].mean(), m[:, 1] - m[:, 1].mean()   # shift first: no cancellation in the sums
    return np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1)


def _pearson_from_sums(s):
    n, sx, sy, sxx, syy, sxy = (s[..., i] for i in range(6))
    return _ratio(sxy - sx * sy / n, np.sqrt((sxx - sx * sx / n) * (syy - sy * sy / n)))


def _pearson_weighted(m, w):
    return _pearson_from_sums(w @ _pearson_moments(m))


def _pearson_prepare(m, shared=None):
    mom = _pearson_moments(m)
    return lambda w: _pearson_from_sums(w @ mom)


def _pearson_jackknife(m):
    mom = _pearson_moments(m)
    return _pearson_from_sums(mom.sum(axis=0)[None, :] - mom)


def _spearman_weighted(m, w):
    from .rank_resampling import spearman_weighted
    return spearman_weighted(m[:, 0], m[:, 1], w)


def _spearman_prepare(m, shared=None):
    from .rank_resampling import SpearmanResampler
    return SpearmanResampler(m[:, 0], m[:, 1], shared)


def _spearman_jackknife(m):
    from .rank_resampling import spearman_jackknife
    return spearman_jackknife(m[:, 0], m[:, 1])


def _by_rows(fn, swap, width: int) -> np.ndarray:
    """fn over chunks of the rows of `swap` (about CHUNK values of `width` per row at a time), concatenated."""
    rows = max(1, CHUNK // max(1, width))
    out = [fn(swap[i:i + rows]) for i in range(0, len(swap), rows)]
    return np.concatenate(out) if out else np.empty(0)


def _spearman_permuted(a, b, swap):
    """Fast when both models share the gold column (the same data); else swapped matrices re-ranked."""
    if not np.array_equal(a[:, 0], b[:, 0]):
        def swapped(s):
            s = s[..., None]
            return _spearman(np.where(s, b, a)) - _spearman(np.where(s, a, b))
        return _by_rows(swapped, swap, 4 * len(a))
    from .rank_resampling import spearman_permuted
    return spearman_permuted(a[:, 0], a[:, 1], b[:, 1], swap)


def _pearson_permuted(a, b, swap):
    def swapped(s):
        s = s[..., None]
        return (batched_pearson(*np.moveaxis(np.where(s, b, a), -1, 0))
                - batched_pearson(*np.moveaxis(np.where(s, a, b), -1, 0)))
    return _by_rows(swapped, swap, 4 * len(a))


def _v_measure(m):
    from .contingency import v_measure, v_measure_weighted
    ok = complete_rows(m)
    if m.ndim == 2:
        return v_measure(m[ok, 0], m[ok, 1])
    return np.array([v_measure_weighted(x[:, 0], x[:, 1], k[None, :].astype(np.float64))[0] for x, k in zip(m, ok)])


def _v_measure_weighted(m, w):
    from .contingency import v_measure_weighted
    return v_measure_weighted(m[:, 0], m[:, 1], w)


def _v_measure_prepare(m, shared=None):
    from .contingency import VMeasureResampler
    return VMeasureResampler(m[:, 0], m[:, 1])


def _v_measure_jackknife(m):
    from .contingency import v_measure_jackknife
    return v_measure_jackknife(m[:, 0], m[:, 1])


STATISTICS: dict[str, Statistic] = {s.name: s for s in (
    _linear("mean", 1, lambda m: m[:, 0], _mean),
    _linear("mean_all", None, lambda m: m.mean(axis=1), _mean_all),
    Statistic("spearman", _spearman, 2, weighted=_spearman_weighted, jackknife=_spearman_jackknife,
              permuted=_spearman_permuted, prepare=_spearman_prepare),
    Statistic("pearson", _pearson, 2, weighted=_pearson_weighted, jackknife=_pearson_jackknife,
              permuted=_pearson_permuted, prepare=_pearson_prepare),
    Statistic("v_measure", _v_measure, 2, weighted=_v_measure_weighted, jackknife=_v_measure_jackknife,
              permutable=False, recentre=True, prepare=_v_measure_prepare),
)}


def statistic(name: str) -> Statistic:
    """The statistic of this name (a callable on `(n, cols)` or `(B, n, cols)` item matrices)."""
    try:
        return STATISTICS[name]
    except KeyError:
        raise HarnessError(f"unknown item statistic {name!r}; valid: {', '.join(STATISTICS)}") from None
