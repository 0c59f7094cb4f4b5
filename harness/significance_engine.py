"""The resampling engine of harness/significance.py: bootstrap draws as counts, every statistic's values over
them (with its fast paths), jackknives, and the paired permutations of scipy.stats.permutation_test.

Resampling is vectorised and chunked (at most CHUNK_ELEMENTS values at a time, so memory stays bounded): each
chunk of resamples becomes a matrix of counts (how often each item is drawn), and a statistic with a weighted
form takes the counts directly (`Statistic.resampler`: its per-matrix work, such as sorting, done once per
call); any other statistic is recomputed on the resampled matrices.
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np

from .item_statistics import Statistic, complete_rows

CHUNK_ELEMENTS = 1 << 18  # values per resampled chunk (2 MiB of float64: counts stay in cache)
_BLAS: list = []


def one_blas_thread(fn):
    """`fn` with BLAS on one thread (threadpoolctl, where installed): the products here are small and bound by
    memory, and a multi-threaded BLAS on a busy machine waits for its threads far longer than it computes
    (Pearson's five sums over a bootstrap: 4x slower on 2 shared cores)."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        if not _BLAS:
            try:
                from threadpoolctl import ThreadpoolController
                _BLAS.append(ThreadpoolController())
            except Exception:   # noqa: BLE001  (only a speed-up)
                _BLAS.append(None)
        with _BLAS[0].limit(limits=1, user_api="blas") if _BLAS[0] is not None else contextlib.nullcontext():
            return fn(*args, **kwargs)
    return wrapped


def index_chunks(n: int, B: int, seed: int, cols: int = 1):
    """(B, n) bootstrap indices in chunks of rows: the very draws scipy.stats.bootstrap makes with
    rng=default_rng(seed) (numpy's integer stream does not depend on how the rows are chunked)."""
    rng = np.random.default_rng(seed)
    rows = max(1, CHUNK_ELEMENTS // max(1, n * cols))
    for start in range(0, B, rows):
        yield rng.integers(0, n, (min(rows, B - start), n), dtype=np.int32 if n < 2 ** 31 else np.int64)


def counts(idx: np.ndarray, n: int) -> np.ndarray:
    """How many times each item is in each resample: (c, n) float64 counts from (c, n) indices."""
    c = idx.shape[0]
    kind = np.int32 if c * n < 2 ** 31 else np.int64      # numpy's add.at is twice as fast on int32 indices
    flat = (idx.astype(kind, copy=False) + (np.arange(c, dtype=kind) * n)[:, None]).ravel()
    out = np.zeros(c * n)
    np.add.at(out, flat, 1.0)
    return out.reshape(c, n)


@one_blas_thread
def bootstrap_distributions(pairs: list[tuple[Statistic, np.ndarray]], n: int, B: int, seed: int) -> list:
    """The B bootstrap values of each (statistic, matrix) over the same resamples of the n items (counts
    computed once per chunk for every statistic that takes them; each statistic's per-matrix work, such as
    sorting, done once: `Statistic.resampler`)."""
    cols = max([m.shape[1] for stat, m in pairs if stat.weighted is None] or [1])
    shared: dict = {}     # the statistics' work common to several matrices (a gold column's ranks)
    fns = [stat.resampler(m, shared) if stat.weighted is not None else None for stat, m in pairs]
    out: list[list] = [[] for _ in pairs]
    for idx in index_chunks(n, B, seed, cols):
        w = counts(idx, n) if any(f is not None for f in fns) else None
        for k, ((stat, m), f) in enumerate(zip(pairs, fns)):
            out[k].append(f(w) if f is not None else stat.fn(m[idx]))
    return [np.concatenate(parts) for parts in out]


def nan_safe(stat: Statistic, m: np.ndarray) -> Statistic:
    """`stat` with fast paths that leave out m's incomplete items (zero weight in every resample; left out,
    they leave the statistic unchanged in the jackknife). These closures ignore the matrix they are given."""
    ok = complete_rows(m)
    if ok.all():
        return stat
    m0, full = np.where(ok[:, None], m, 0.0), stat(m)

    def weighted(_, w):
        return stat.weighted(m0, w * ok)

    def prepare(_, shared=None):
        inner = stat.resampler(m0, shared)
        return lambda w: inner(w * ok)

    def jackknife_(_):
        out = np.full(len(m), full)
        out[ok] = jackknife(stat, m[ok])
        return out

    return Statistic(stat.name, stat.fn, stat.n_columns, weighted=weighted if stat.weighted else None,
                     jackknife=jackknife_, prepare=prepare if stat.weighted else None)


@one_blas_thread
def jackknife(stat: Statistic, m: np.ndarray) -> np.ndarray:
    """The statistic with each item left out in turn (n values)."""
    if stat.jackknife is not None:
        return stat.jackknife(m)
    n = m.shape[0]
    if stat.weighted is not None:   # leave-one-out sets as weights: all ones but one zero
        fn, rows, out = stat.resampler(m), max(1, CHUNK_ELEMENTS // n), []
        for i in range(0, n, rows):
            w = np.ones((min(rows, n - i), n))
            w[np.arange(len(w)), i + np.arange(len(w))] = 0.0
            out.append(fn(w))
        return np.concatenate(out)
    j = np.arange(n - 1)
    rows = max(1, CHUNK_ELEMENTS // max(1, (n - 1) * m.shape[1]))
    out = []
    for i0 in range(0, n, rows):
        left_out = np.arange(i0, min(n, i0 + rows))[:, None]
        out.append(stat.fn(m[j[None, :] + (j[None, :] >= left_out)]))
    return np.concatenate(out)


def recentred(stat: Statistic, theta_hat, theta_b: np.ndarray) -> tuple[np.ndarray, float | None]:
    """(the bootstrap distribution, shifted to centre on the estimate where the statistic asks for it; the
    shift removed, else None)."""
    finite = theta_b[np.isfinite(theta_b)]
    if not stat.recentre or not len(finite) or not np.isfinite(theta_hat):
        return theta_b, None
    bias = float(finite.mean() - theta_hat)
    return theta_b - bias, bias


def permutation_swaps(n: int, B: int, seed: int) -> tuple[np.ndarray, bool]:
    """(swap (B', n) bool, exact): the permutations of scipy.stats.permutation_test(permutation_type="samples")
    for rng=default_rng(seed) (its rng.permuted of [0, 1] per item draws one uint32 per item and swaps when the
    lowest bit is 0), or all 2**n of them when B >= 2**n, as scipy does (exact: True)."""
    if n < 63 and B >= 2 ** n:
        return ((np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1).astype(bool), True
    bits = np.random.default_rng(seed).integers(0, 2 ** 32, size=(B, n), dtype=np.uint32)
    return (bits & 1) == 0, False


@one_blas_thread
def permutation_null(stat: Statistic, a, b, B: int, seed: int, swaps=None):
    """(null distribution, number of permutations, exact) of stat(a') - stat(b'), each item's rows swapped
    between a and b with probability 1/2 (`permutation_swaps(n, B, seed)`, or `swaps`, that pair, given)."""
    n = a.shape[0]
    swap, exact = swaps if swaps is not None else permutation_swaps(n, B, seed)
    if stat.permuted is not None and complete_rows(a).all() and complete_rows(b).all():
        return stat.permuted(a, b, swap), len(swap), exact    # fast paths chunk the permutations themselves
    rows = max(1, CHUNK_ELEMENTS // max(1, 2 * n * a.shape[1]))
    null = []
    for i in range(0, len(swap), rows):
        s = swap[i:i + rows]
        null.append(stat.fn(np.where(s[..., None], b, a)) - stat.fn(np.where(s[..., None], a, b)))
    return np.concatenate(null), len(swap), exact


def two_sided_p(null: np.ndarray, observed: float, n_perm: int, exact: bool) -> float:
    """scipy.stats.permutation_test's two-sided p-value (its tolerance for ties and its +1 adjustment)."""
    adjustment = 0 if exact else 1
    gamma = abs(np.finfo(np.float64).eps * 100 * observed)
    less = (np.count_nonzero(null <= observed + gamma) + adjustment) / (n_perm + adjustment)
    greater = (np.count_nonzero(null >= observed - gamma) + adjustment) / (n_perm + adjustment)
    return float(min(1.0, max(0.0, 2 * min(less, greater))))
