"""The vector-index protocol and what every adapter shares (input checks, parameter split, ids).

Protocol (design.md, ann-benchmarks' split of build and query arguments):

- `build(vectors, ids=None, *, order=None, **build_params)`: index `vectors` (n, d). `ids` are the
  int64 labels returned by `search` (default: row numbers). `order` is a permutation of
  0..n-1 giving the insertion order (graph indexes honour it; exact search ignores it).
- `search(queries, k, **query_params) -> (ids, distances)`, both (n_queries, k), best first.
  Distances are "smaller is closer" in the index metric: `l2` gives squared L2, `ip` and
  `cosine` give the *negative* inner product (an exact sign flip of the library's float32 score,
  so ranking scores are `-distances` with no rounding). A slot with no result holds id -1 and
  distance +inf. Query parameters (ef, chunk size) change per call: no rebuild.
- `stats() -> dict`: size_bytes, build_s, threads, n, dim, metric (and adapter extras).
- `spec() -> dict`: {"name", "build": {...}, "query": {...}}: what defines the index in a job key.

Parameters given to the constructor are split into build and query parameters by the adapter's
`BUILD_DEFAULTS` / `QUERY_DEFAULTS`; an unknown name is an error listing the valid ones.
"""
from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from harness.errors import HarnessError

METRICS = ("ip", "cosine", "l2")


class IndexParamError(HarnessError):
    """A bad index parameter (unknown name, ef < k, k > n). A ValueError, as methods.md asks."""


def as_float32_matrix(x, what: str, dim: int | None = None) -> np.ndarray:
    """C-contiguous float32 (n, d) with finite values; errors name the first bad row.

    A C-contiguous float32 input (a memmap included) is returned as is, never copied.
    """
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise HarnessError(f"{what}: expected a 2-D array (n, dim), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise HarnessError(f"{what}: expected real numbers, got dtype {arr.dtype}")
    if dim is not None and arr.shape[1] != dim:
        raise HarnessError(f"{what}: dimension {arr.shape[1]} does not match the index dimension {dim}")
    if arr.dtype != np.float32 or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    check_finite(arr, what)
    return arr


def check_finite(arr: np.ndarray, what: str, block: int = 65536) -> None:
    """Reject NaN/Inf, naming the first bad row; reads in blocks so a memmap is not loaded whole."""
    for s in range(0, len(arr), block):
        part = arr[s:s + block]
        bad = ~np.isfinite(part).all(axis=1)
        if bad.any():
            row = s + int(np.flatnonzero(bad)[0])
            raise HarnessError(f"{what}: non-finite value (NaN or Inf) in row {row}")


def check_nonzero(arr: np.ndarray, what: str, block: int = 65536) -> None:
    """Cosine is undefined for a zero vector: raise, naming the row (methods.md conventions)."""
    for s in range(0, len(arr), block):
        zero = ~np.any(arr[s:s + block], axis=1)
        if zero.any():
            row = s + int(np.flatnonzero(zero)[0])
            raise HarnessError(f"{what}: row {row} is a zero vector; cosine similarity is undefined for it")


def normalize_rows(arr: np.ndarray, what: str) -> np.ndarray:
    """L2-normalised float32 copy (zero rows are an error)."""
    check_nonzero(arr, what)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return np.ascontiguousarray(arr / norms, dtype=np.float32)


def check_order(order, n: int) -> np.ndarray:
    """`order` must be a permutation of 0..n-1."""
    perm = np.asarray(order)
    if perm.ndim != 1 or len(perm) != n or not np.issubdtype(perm.dtype, np.integer):
        raise HarnessError(f"order must be a 1-D integer permutation of 0..{n - 1} (length {n}), "
                           f"got shape {perm.shape} dtype {perm.dtype}")
    seen = np.zeros(n, dtype=bool)
    if perm.min(initial=0) < 0 or perm.max(initial=0) >= n:
        raise HarnessError(f"order holds values outside 0..{n - 1}")
    seen[perm] = True
    if not seen.all():
        raise HarnessError(f"order is not a permutation: {int((~seen).sum())} row(s) missing")
    return perm.astype(np.int64, copy=False)


def check_ids(ids, n: int) -> np.ndarray:
    if ids is None:
        return np.arange(n, dtype=np.int64)
    arr = np.asarray(ids)
    if arr.ndim != 1 or len(arr) != n:
        raise HarnessError(f"ids must be 1-D with one id per vector ({n}), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise HarnessError(f"ids must be integers (map other keys to row numbers), got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    uniq, counts = np.unique(arr, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][0]
        raise HarnessError(f"ids must be unique: id {int(dup)} appears {int(counts[counts > 1][0])} times "
                           f"(first at row {int(np.flatnonzero(arr == dup)[0])})")
    return arr


def check_ef(ef: int, k: int) -> None:
    # hnswlib silently raises ef to k, faiss does not: refuse so runs compare across libraries (methods.md §1.2)
    if ef < k:
        raise IndexParamError(f"ef must be >= k (ef={ef}, k={k})")


class VectorIndex:
    """Base class: parameter split, input checks, id mapping, timing. Adapters fill `_build`/`_search`."""

    name: ClassVar[str] = ""
    is_exact: ClassVar[bool] = False
    BUILD_DEFAULTS: ClassVar[dict[str, Any]] = {"metric": "ip"}
    QUERY_DEFAULTS: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params):
        self.build_params = dict(self.BUILD_DEFAULTS)
        self.query_params = dict(self.QUERY_DEFAULTS)
        for key, value in params.items():
            if key in self.build_params:
                self.build_params[key] = value
            elif key in self.query_params:
                self.query_params[key] = value
            else:
                raise IndexParamError(self._unknown(key))
        self._check_metric(self.build_params["metric"])
        self.dim: int | None = None
        self.n = 0
        self._labels = np.zeros(0, dtype=np.int64)  # position in the library index -> caller id
        self._stats: dict[str, Any] = {}

    # -- protocol ---------------------------------------------------------------------------------
    def build(self, vectors, ids=None, *, order=None, **build_params) -> "VectorIndex":
        for key in build_params:
            if key not in self.BUILD_DEFAULTS:
                raise IndexParamError(self._unknown(key, build=True))
        params = {**self.build_params, **build_params}
        self._check_metric(params["metric"])
        x = as_float32_matrix(vectors, f"{self.name} index: vectors")
        if len(x) == 0:
            raise HarnessError(f"{self.name} index: cannot build on 0 vectors")
        if params["metric"] == "cosine":
            x = normalize_rows(x, f"{self.name} index: vectors")
        ids_arr = check_ids(ids, len(x))
        perm = check_order(order, len(x)) if order is not None else None
        self.build_params = params
        self.dim, self.n = int(x.shape[1]), int(x.shape[0])
        t0 = time.perf_counter()
        positions = self._build(x, perm, params)   # library position -> row of `x`
        build_s = time.perf_counter() - t0
        self._labels = ids_arr[positions] if positions is not None else ids_arr
        self._stats = {"build_s": build_s, "n": self.n, "dim": self.dim, "metric": params["metric"],
                       "order": "given" if perm is not None else "rows", **self._build_stats()}
        return self

    def search(self, queries, k: int, **query_params) -> tuple[np.ndarray, np.ndarray]:
        if self.dim is None:
            raise HarnessError(f"{self.name} index: search before build")
        for key in query_params:
            if key not in self.QUERY_DEFAULTS:
                raise IndexParamError(self._unknown(key, query=True))
        params = {**self.query_params, **query_params}
        k = int(k)
        if k < 1:
            raise IndexParamError(f"k must be >= 1 (k={k})")
        if k > self.n:
            raise IndexParamError(f"k={k} is larger than the number of indexed vectors ({self.n})")
        q = as_float32_matrix(queries, f"{self.name} index: queries", dim=self.dim)
        if self.build_params["metric"] == "cosine":
            q = normalize_rows(q, f"{self.name} index: queries")
        if len(q) == 0:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        positions, distances = self._search(q, k, params)
        ids = np.where(positions >= 0, self._labels[np.clip(positions, 0, None)], -1)
        distances = np.where(positions >= 0, distances, np.inf).astype(np.float32, copy=False)
        return ids.astype(np.int64, copy=False), distances

    def stats(self) -> dict:
        return dict(self._stats)

    def spec(self) -> dict:
        return {"name": self.name, "build": dict(self.build_params), "query": dict(self.query_params)}

    # -- adapter hooks ----------------------------------------------------------------------------
    def _build(self, x: np.ndarray, order: np.ndarray | None, params: dict) -> np.ndarray | None:
        raise NotImplementedError

    def _search(self, q: np.ndarray, k: int, params: dict) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _build_stats(self) -> dict:
        return {}

    # -- helpers ----------------------------------------------------------------------------------
    def _check_metric(self, metric) -> None:
        if metric not in METRICS:
            raise IndexParamError(f"{self.name} index: unknown metric {metric!r}; valid: {', '.join(METRICS)}")

    def _unknown(self, key: str, build: bool = False, query: bool = False) -> str:
        valid = (list(self.BUILD_DEFAULTS) if not query else []) + (list(self.QUERY_DEFAULTS) if not build else [])
        kind = "build " if build else "query " if query else ""
        return f"{self.name} index: unknown {kind}parameter {key!r}; valid: {', '.join(valid)}"


def chunk_rows(n: int, chunk: int | None):
    """(start, stop) pairs covering 0..n in steps of `chunk` (all at once when None)."""
    step = n if not chunk else max(1, int(chunk))
    for s in range(0, n, step):
        yield s, min(n, s + step)
