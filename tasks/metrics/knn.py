"""Exact k-nearest neighbours of a point set among itself, shared by every kNN-based estimator.

`knn(X, k)` returns Euclidean distances (not squared) and row indices of each point's k nearest
neighbours, **excluding the point itself**, sorted ascending (methods.md §2). One call serves
MLE, Amsaleg LID and TwoNN (which only reads the first two columns): the quadratic search is done
once.

Search: the registry's exact index (`make_index("exact", metric="l2")`, faiss flat kernels, the
harness's one brute-force path) finds each row's k + 1 + MARGIN nearest rows in float32; the row
itself is dropped wherever it landed (float32 rounding can rank a very close point first); the
chosen pairs' distances are recomputed in float64 from the differences of the rows and re-sorted
(stable), then cut to k. The MARGIN extra candidates let that re-sort repair the float32 ranking
(|x|^2 + |y|^2 - 2<x,y> loses ~1e-5 relative to cancellation) at the k-th neighbour.
`precision` says which rows the distances are computed from: "float32" (default) the float32 rows
that were searched, "float64" the input rows as given (the distances scikit-dimension computes).

Near-duplicates: rows i, j with ||x_i - x_j|| <= rel_tol * max(||x_i||, ||x_j||) (compared as
searched: unit rows under cosine) are one point: distance ~0 makes log(T_k/T_j) explode, and rows
that differ only in their last bits (the same text encoded in another batch) would otherwise count
as distinct in one run and equal in the next. Groups are the connected components of such pairs;
the first row of each group is kept, the others are dropped with a warning giving the count
(`KNNResult.keep` / `inverse` map between input and kept rows, `expand` spreads per-point values
back, `duplicates` says what was dropped). DUPLICATE_REL_TOL = 1e-4, measured on MiniLM's 10,003
Banking77 train vectors (unit norm): encoding them in other batches moves a vector by at most 9.9e-7
of its norm (padding; 1,010 vectors moved at all), and the texts that differ only in case or
whitespace (the same tokens) land 4.9e-7 to 5.6e-7 apart, while the closest distinct texts (one
word apart: "a couple of days" / "a couple days") are 3.1e-2 apart. 1e-4 is 100x above the noise
and 300x below the closest real pair; exact-equality dedup dropped 4 rows in one encoding and 6 in
the other (MLE 6.1545 vs 6.1684), this rule drops the same 6 in both.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from harness.errors import HarnessError
from harness.vectors import check_matrix, unit_rows

METRICS = ("l2", "cosine")
PRECISIONS = ("float32", "float64")
DUPLICATE_REL_TOL = 1e-4
MARGIN = 10          # extra float32 candidates per row, re-ranked by the float64 distances
BLOCK = 8192         # rows per float64 distance block
DUPLICATE_RULE = ("rows i, j are one point when ||x_i - x_j|| <= rel_tol * max(||x_i||, ||x_j||) (float64, as "
                  "searched: unit rows under cosine); groups are connected components; the first row is kept")


class DuplicateRowsWarning(UserWarning):
    """Duplicate (or near-duplicate) rows were dropped before a kNN search."""


@dataclass(frozen=True)
class KNNResult:
    dists: np.ndarray        # (m, k) float64 Euclidean distances, ascending, self excluded
    idx: np.ndarray          # (m, k) int64 neighbour rows, indices into the kept rows
    keep: np.ndarray         # (m,) input row of each kept (distinct) point, ascending
    inverse: np.ndarray      # (n,) kept position of each input row (duplicates share one)
    metric: str = "l2"
    precision: str = "float32"
    duplicates: dict = field(default_factory=dict)   # what was dropped and why (`duplicate_summary`)

    def __iter__(self):  # `dists, idx = knn(X, k)`
        return iter((self.dists, self.idx))

    @property
    def k(self) -> int:
        return int(self.dists.shape[1])

    @property
    def n_points(self) -> int:
        """Distinct points searched."""
        return int(self.dists.shape[0])

    @property
    def input_idx(self) -> np.ndarray:
        """Neighbour indices as input rows (equal to `idx` when there were no duplicates)."""
        return self.keep[self.idx]

    @property
    def n_input(self) -> int:
        return int(self.inverse.shape[0])

    @property
    def n_duplicates(self) -> int:
        return self.n_input - self.n_points

    def head(self, k: int) -> "KNNResult":
        """The same search truncated to the first k neighbours (for an estimator using fewer)."""
        if not 1 <= k <= self.k:
            raise HarnessError(f"kNN result has k={self.k}; cannot take {k} neighbours")
        return KNNResult(self.dists[:, :k], self.idx[:, :k], self.keep, self.inverse, self.metric, self.precision,
                         self.duplicates)

    def expand(self, values: np.ndarray) -> np.ndarray:
        """Per-kept-point values -> per-input-row values (a duplicate gets its kept copy's value)."""
        return np.asarray(values)[self.inverse]

    def as_skdim(self) -> tuple[np.ndarray, np.ndarray]:
        """(dists, idx) in the form of scikit-dimension's `precomputed_knn_arrays`."""
        return self.dists, self.idx


def knn(X, k: int, metric: str = "l2", *, precision: str = "float32", dedup: bool = True,
        rel_tol: float = DUPLICATE_REL_TOL, what: str = "vectors") -> KNNResult:
    """Exact kNN of every row of X among the other rows (self excluded), Euclidean distances.

    `dedup`: drop near-duplicate rows first (the rule above, `rel_tol` 0 = exact duplicates only)."""
    if metric not in METRICS:
        raise HarnessError(f"kNN metric must be one of {METRICS} (LID needs a distance), got {metric!r}")
    if precision not in PRECISIONS:
        raise HarnessError(f"kNN precision must be one of {PRECISIONS}, got {precision!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise HarnessError(f"{what}: k must be a positive integer, got {k!r}")
    if not rel_tol >= 0:
        raise HarnessError(f"{what}: duplicate rel_tol must be >= 0, got {rel_tol!r}")
    X = check_matrix(X, what, min_rows=2, dtype=None)
    source = unit_rows(X, what, dtype=np.float64) if metric == "cosine" else X
    searched = np.ascontiguousarray(source, dtype=np.float32)
    rows = searched if precision == "float32" else np.asarray(source, dtype=np.float64)
    n = len(X)
    rep = np.arange(n, dtype=np.int64)   # input row -> the kept row of its group
    pairs: list[tuple[int, int, float]] = []
    while True:
        keep = np.flatnonzero(rep == np.arange(n))
        m = len(keep)
        if k >= m:
            raise HarnessError(f"{what}: k={k} neighbours need at least k+1={k + 1} distinct rows, got {m}"
                               + (f" ({n - m} duplicate(s) dropped)" if m < n else ""))
        kept_searched, kept_rows = (searched, rows) if m == n else (searched[keep], rows[keep])
        idx, dists = _self_knn(kept_searched, kept_rows, min(m - 1, k + MARGIN))
        if not dedup:
            break
        a, b, rel = _near_pairs(idx, dists, kept_rows, rel_tol)
        if not len(a):
            break
        pairs += zip(keep[a].tolist(), keep[b].tolist(), rel.tolist())
        rep = _merge(rep, keep[a], keep[b])
    inverse = np.searchsorted(keep, rep)
    summary = duplicate_summary(rep, pairs, rel_tol) if dedup else {"rule": "not checked"}
    if m < n:
        first = int(np.flatnonzero(rep != np.arange(n))[0])
        warnings.warn(f"{what}: dropped {n - m} duplicate row(s) of {n} before the kNN search (rel_tol {rel_tol:g}; "
                      f"e.g. row {first} repeats row {int(rep[first])})", DuplicateRowsWarning, stacklevel=2)
    return KNNResult(dists[:, :k], idx[:, :k], keep, inverse, metric, precision, summary)


def _self_knn(searched: np.ndarray, rows: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """(idx, dists) of each row's `depth` nearest other rows: exact float32 search of depth + 1, self
    dropped, float64 distances of the chosen pairs from `rows`, re-sorted (stable)."""
    from harness.registry import make_index
    n = len(searched)
    ids, _ = make_index("exact", metric="l2").build(searched).search(searched, depth + 1)
    is_self = ids == np.arange(n)[:, None]
    is_self[~is_self.any(axis=1), depth] = True   # self not found: drop the last candidate instead
    idx = ids[~is_self].reshape(n, depth)
    d = np.empty(idx.shape, dtype=np.float64)
    for s in range(0, n, BLOCK):
        x = np.asarray(rows[s:s + BLOCK], dtype=np.float64)
        for j in range(depth):
            diff = x - np.asarray(rows[idx[s:s + BLOCK, j]], dtype=np.float64)
            d[s:s + BLOCK, j] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    order = np.argsort(d, axis=1, kind="stable")
    return np.take_along_axis(idx, order, 1), np.take_along_axis(d, order, 1)


def _near_pairs(idx: np.ndarray, dists: np.ndarray, rows: np.ndarray, rel_tol: float):
    """(a, b, distance / larger norm) arrays: every neighbour pair within the duplicate tolerance."""
    norms = np.sqrt(np.einsum("ij,ij->i", np.asarray(rows, np.float64), np.asarray(rows, np.float64)))
    scale = np.maximum(norms[:, None], norms[idx])
    hit = (dists <= rel_tol * scale) | (dists == 0)
    a, j = np.nonzero(hit)
    b = idx[a, j]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(scale[a, j] > 0, dists[a, j] / scale[a, j], 0.0)
    return a, b, rel


def _merge(rep: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union the groups of the pairs (a, b) into `rep`; each group's representative is its first row."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    n = len(rep)
    src = np.concatenate([np.arange(n), a])
    dst = np.concatenate([rep, b])
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    first = np.full(label.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, label, np.arange(n))
    return first[label]


def duplicate_summary(rep: np.ndarray, pairs: list[tuple[int, int, float]], rel_tol: float,
                      max_groups: int = 20) -> dict:
    """What was dropped and why: count, the rule, the largest relative distance that merged two rows, and
    the first `max_groups` groups as input rows ([kept, dropped...])."""
    dropped = np.flatnonzero(rep != np.arange(len(rep)))
    groups: dict[int, list[int]] = {}
    for row in dropped:
        groups.setdefault(int(rep[row]), [int(rep[row])]).append(int(row))
    return {"rule": DUPLICATE_RULE, "rel_tol": float(rel_tol), "n_dropped": int(len(dropped)),
            "n_groups": len(groups), "max_rel_distance": max((p[2] for p in pairs), default=0.0),
            "groups": [g for _, g in sorted(groups.items())[:max_groups]]}
