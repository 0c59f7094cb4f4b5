"""Exact k-nearest neighbours of a point set among itself, shared by every kNN-based estimator.

`knn(X, k)` returns Euclidean distances (not squared) and row indices of each point's k nearest
neighbours, **excluding the point itself**, sorted ascending (methods.md §2). One call serves
MLE, Amsaleg LID and TwoNN (which only reads the first two columns): the quadratic search is done
once. `pointwise_lid` is the per-point LID the HNSW insertion-order task sorts by.

Search precision:
- `"float32"` (default): faiss `IndexFlatL2` (exact, BLAS float32) finds the neighbours; their
  distances are then recomputed from the differences (faiss `fvec_L2sqr_by_idx`, float32, ~1e-7
  relative) instead of the search's cancellation-prone |x|^2 + |y|^2 - 2<x,y> (~1e-5 relative).
  `refine=True` recomputes them in float64 from the input rows (the neighbour sets stay faiss's).
- `"float64"`: scikit-learn brute-force kNN in float64, the search scikit-dimension itself runs.

Duplicates: exact duplicate rows have distance 0, which makes log(T_k/T_j) infinite. They are
dropped (compared as searched: float32 for the default search, unit rows for cosine) before the search with a warning that gives the count (`KNNResult.keep` / `inverse` map
between input rows and kept rows; per-point values are spread back with `expand`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from harness.errors import HarnessError

METRICS = ("l2", "cosine")
PRECISIONS = ("float32", "float64")


class DuplicateRowsWarning(UserWarning):
    """Exact duplicate rows were dropped before a kNN search."""


@dataclass(frozen=True)
class KNNResult:
    dists: np.ndarray        # (m, k) float64 Euclidean distances, ascending, self excluded
    idx: np.ndarray          # (m, k) int64 neighbour rows, indices into the kept rows
    keep: np.ndarray         # (m,) input row of each kept (distinct) point, ascending
    inverse: np.ndarray      # (n,) kept position of each input row (duplicates share one)
    metric: str = "l2"
    precision: str = "float32"

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
        return KNNResult(self.dists[:, :k], self.idx[:, :k], self.keep, self.inverse, self.metric, self.precision)

    def expand(self, values: np.ndarray) -> np.ndarray:
        """Per-kept-point values -> per-input-row values (a duplicate gets its kept copy's value)."""
        return np.asarray(values)[self.inverse]

    def as_skdim(self) -> tuple[np.ndarray, np.ndarray]:
        """(dists, idx) in the form of scikit-dimension's `precomputed_knn_arrays`."""
        return self.dists, self.idx


def check_vectors(X, what: str = "vectors", *, min_rows: int = 2) -> np.ndarray:
    """A 2-D finite numeric array with at least `min_rows` rows, else an error naming the row."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise HarnessError(f"{what}: expected a 2-D array (rows = points), got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
        raise HarnessError(f"{what}: expected numbers, got dtype {X.dtype}")
    if X.shape[0] < min_rows:
        raise HarnessError(f"{what}: need at least {min_rows} rows, got {X.shape[0]}")
    if X.shape[1] < 1:
        raise HarnessError(f"{what}: rows have no columns")
    if np.issubdtype(X.dtype, np.floating):
        finite_rows = np.isfinite(X).all(axis=1)
        if not finite_rows.all():
            bad = np.flatnonzero(~finite_rows)
            raise HarnessError(f"{what}: row {int(bad[0])} has NaN or Inf values ({len(bad)} such row(s))")
    return X


def unique_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keep, inverse): first occurrence of each distinct row in input order, and the map back."""
    n = X.shape[0]
    # Fast path: a fixed random projection, summed row by row in one order (so equal rows give
    # bit-equal values). All values distinct => all rows distinct; otherwise compare the rows exactly.
    w = np.random.default_rng(0).standard_normal(X.shape[1])
    h = np.sort((np.asarray(X, dtype=np.float64) * w).sum(axis=1))
    if not (h[1:] == h[:-1]).any():
        return np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64)
    X = np.ascontiguousarray(X) + 0  # +0 turns -0.0 into 0.0 so equal values compare equal as bytes
    rows = X.view(np.dtype((np.void, X.dtype.itemsize * X.shape[1]))).ravel()
    _, first, inv = np.unique(rows, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")         # unique ids in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order].astype(np.int64), rank[inv.ravel()].astype(np.int64)


def knn(X, k: int, metric: str = "l2", *, precision: str = "float32", refine: bool = False,
        dedup: bool = True, what: str = "vectors") -> KNNResult:
    """Exact kNN of every row of X among the other rows (self excluded), Euclidean distances."""
    if metric not in METRICS:
        raise HarnessError(f"kNN metric must be one of {METRICS} (LID needs a distance), got {metric!r}")
    if precision not in PRECISIONS:
        raise HarnessError(f"kNN precision must be one of {PRECISIONS}, got {precision!r}")
    X = check_vectors(X, what)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise HarnessError(f"{what}: k must be a positive integer, got {k!r}")
    n = X.shape[0]
    # Deduplicate the array as it will be searched (unit rows for cosine; float32 for the default
    # search): rows distinct only beyond float32 precision would otherwise meet at distance 0.
    source = _unit_rows(X, what) if metric == "cosine" else X
    Xs = np.ascontiguousarray(source, dtype=np.float32 if precision == "float32" else np.float64)
    if dedup:
        keep, inverse = unique_rows(Xs)
        if len(keep) < n:
            dup = np.flatnonzero(np.bincount(inverse) > 1)[0]
            first_copy = int(np.flatnonzero(inverse == dup)[1])
            warnings.warn(f"{what}: dropped {n - len(keep)} duplicate row(s) of {n} before the kNN search "
                          f"(e.g. row {first_copy} repeats row {int(keep[dup])})", DuplicateRowsWarning,
                          stacklevel=2)
    else:
        keep, inverse = np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64)
    m = len(keep)
    if k >= m:
        raise HarnessError(f"{what}: k={k} neighbours need at least k+1={k + 1} distinct rows, got {m}"
                           + (f" ({n - m} duplicate(s) dropped)" if m < n else ""))
    Xk = Xs[keep] if m < n else Xs
    if precision == "float64":
        dists, idx = _knn_sklearn64(Xk, k)
    else:
        dists, idx = _knn_faiss32(Xk, k, exact=source[keep] if refine else None)
    return KNNResult(dists, idx, keep, inverse, metric, precision)


def _unit_rows(X: np.ndarray, what: str) -> np.ndarray:
    X64 = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X64, axis=1)
    if (norms == 0).any():
        raise HarnessError(f"{what}: row {int(np.flatnonzero(norms == 0)[0])} is a zero vector; cosine is "
                           "undefined for it")
    return X64 / norms[:, None]


def _knn_sklearn64(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.neighbors import NearestNeighbors
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(np.asarray(X, dtype=np.float64))
    dists, idx = nn.kneighbors()  # no argument: each point is left out of its own neighbours
    return np.ascontiguousarray(dists, dtype=np.float64), np.ascontiguousarray(idx, dtype=np.int64)


def _knn_faiss32(X: np.ndarray, k: int, *, exact: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """faiss search on float32 X; with `exact` (the same rows at input precision) distances in float64."""
    import faiss
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    n, d = X32.shape
    index = faiss.IndexFlatL2(d)
    index.add(X32)
    _, I = index.search(X32, k + 1)
    # Drop each row's own index wherever it landed (float32 rounding can rank a very close point
    # first); a row that does not contain itself loses its (k+1)-th neighbour instead.
    is_self = I == np.arange(n)[:, None]
    is_self[~is_self.any(axis=1), k] = True
    idx = np.ascontiguousarray(I[~is_self].reshape(n, k), dtype=np.int64)
    if exact is not None:
        d2 = _exact_sq_dists(exact, idx)
    else:
        # The search ranks by |x|^2 + |y|^2 - 2<x,y> in float32, whose cancellation costs ~1e-5
        # relative on w2v distances; summing the squared differences of the chosen pairs costs 1e-7,
        # and a near-duplicate pair can no longer come out at distance 0.
        d2 = np.empty((n, k), dtype=np.float32)
        faiss.fvec_L2sqr_by_idx(faiss.swig_ptr(d2), faiss.swig_ptr(X32), faiss.swig_ptr(X32),
                                faiss.swig_ptr(idx), d, n, k)
    order = np.argsort(d2, axis=1, kind="stable")
    dists = np.sqrt(np.take_along_axis(d2, order, 1).astype(np.float64))
    return dists, np.take_along_axis(idx, order, 1)


def _exact_sq_dists(X: np.ndarray, nbrs: np.ndarray) -> np.ndarray:
    """Squared distances from each row to its neighbours, float64: |x|^2 + |y|^2 - 2<x,y> with
    float64 dot products (exact products of float32 inputs), one neighbour rank at a time."""
    X64 = np.asarray(X, dtype=np.float64)
    norms = np.einsum("ij,ij->i", X64, X64)
    out = np.empty(nbrs.shape, dtype=np.float64)
    for j in range(nbrs.shape[1]):
        col = nbrs[:, j]
        out[:, j] = norms + norms[col] - 2 * np.einsum("ij,ij->i", X64, X64[col])
    return np.maximum(out, 0.0)


def pointwise_lid(X_or_knn, k: int = 20, form: str = "amsaleg", *, unbiased: bool = False,
                  metric: str = "l2", precision: str = "float32") -> np.ndarray:
    """Per-input-row LID from the k nearest neighbours (self excluded), float64.

    form="amsaleg":        k / sum_{j<k} log(T_k/T_j)   (Amsaleg et al. 2015; Elliott & Clark)
    form="levina_bickel":  (k-1) / sum_{j<k} log(T_k/T_j)   (k-2 with unbiased=True)
    A duplicate row gets the value of its kept copy. Takes a matrix or a `KNNResult` with >= k columns.
    """
    from .intrinsic_dim import lid_pointwise
    res = X_or_knn if isinstance(X_or_knn, KNNResult) else knn(X_or_knn, k, metric, precision=precision)
    return res.expand(lid_pointwise(res, k, form=form, unbiased=unbiased))
