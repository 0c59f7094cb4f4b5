"""The vector-index protocol, and what every adapter shares (parameter split, input checks, ids).

Tasks never import an index library or this package: they call `harness.registry.make_index(name,
**params)`, so an adapter written as one module plus one line in `harness.registry.INDEXES` (or
registered by a `$HARNESS_PLUGINS` module) is usable by every task that searches.

What an adapter implements (subclass `VectorIndex`; fill three hooks and two tables):

- `name` (the registry name) and `is_exact` (True only for exhaustive search; `spec()["exact"]`
  tells the report and the retrieval task an exact job from an ANN one).
- `BUILD_DEFAULTS` / `QUERY_DEFAULTS`: every parameter with its default. `metric` ("ip", "cosine",
  "l2") is a build parameter of every index. Parameters given to the constructor (what
  `make_index(name, **params)` passes) are split by these tables; an unknown one is an error listing
  the valid ones. A name in both tables is a build parameter at construction; search calls may
  still pass it as a query parameter.
- `_build(x, order, params) -> positions | None`: index the checked float32 rows `x` (C-contiguous,
  finite, unit rows under cosine); `order` is None (row order) or a checked permutation of 0..n-1
  to insert in; return the row of `x` at each library position (None: position = row).
- `_search(q, k, params) -> (positions, distances)`: both (n_queries, k), best first, distances
  "smaller is closer" (`l2`: squared L2; `ip` / `cosine`: the negative inner product, an exact sign
  flip of the library's float32 score); position -1 marks an empty slot.
- `_build_stats() -> dict`: at least `size_bytes` and `threads` (and `library`).
- `_check(build, query, dim, k)` (optional): range checks that need more than a name, e.g. nprobe <=
  nlist, M dividing the dimension for PQ, ef >= k. `query`, `dim` and `k` are None when unknown. Raise
  `self.param_error(param, value, valid)`. It runs before any build: at plan time (`check(...)`, once
  per grid point, with the dimension when the model declares it), again in `build` (dimension known)
  and in every `search` (query point and k known).

What the caller gets (this class does the rest):

- `build(vectors, ids=None, *, order=None, **build_params)`: `ids` are the int64 labels `search`
  returns (default: row numbers); `order` is honoured by graph indexes (exact search ignores it).
- `search(queries, k, **query_params) -> (ids, distances)`, both (n_queries, k); an empty slot holds
  id -1 and distance +inf. Query parameters change per call: an ef sweep needs no rebuild.
- `stats() -> dict`: size_bytes, build_s, threads, n, dim, metric (and adapter extras).
- `spec() -> dict`: {"name", "exact", "build": {...}, "query": {...}}: what defines the index in a
  job key and a result file.

Which tasks use which parameters: retrieval builds with `metric` and searches with no query
parameter (the adapter's defaults); HNSWInsertionOrder and RankingShift build with `metric`, `M`
and `ef_construction` (their build grid) and an insertion `order`, and sweep the query parameter
`ef` (>= k; an index that does not know these names is refused with the list of valid ones).
Per-index extras (threads, seeds, chunk sizes) come from the task's index specs.
"""
from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from harness.errors import HarnessError
from harness.vectors import check_matrix, unit_rows

METRICS = ("ip", "cosine", "l2")


class IndexParamError(HarnessError):
    """A bad index parameter (unknown name, ef < k, k > n). A ValueError, as methods.md asks."""


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


def check_ef(ef: int, k: int | None) -> None:
    # hnswlib silently raises ef to k, faiss does not: refuse so runs compare across libraries (methods.md §1.2)
    if k is not None and int(ef) < int(k):
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
        what = f"{self.name} index: vectors"
        x = unit_rows(vectors, what) if params["metric"] == "cosine" else check_matrix(vectors, what)
        if len(x) == 0:
            raise HarnessError(f"{self.name} index: cannot build on 0 vectors")
        ids_arr = check_ids(ids, len(x))
        perm = check_order(order, len(x)) if order is not None else None
        self._check(params, None, int(x.shape[1]), None)
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
        what = f"{self.name} index: queries"
        q = check_matrix(queries, what, dim=self.dim)
        if self.build_params["metric"] == "cosine":
            q = unit_rows(q, what)
        self._check(self.build_params, params, self.dim, k)
        if len(q) == 0:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        positions, distances = self._search(q, k, params)
        ids = np.where(positions >= 0, self._labels[np.clip(positions, 0, None)], -1)
        distances = np.where(positions >= 0, distances, np.inf).astype(np.float32, copy=False)
        return ids.astype(np.int64, copy=False), distances

    def stats(self) -> dict:
        return dict(self._stats)

    def check(self, *, query_points=(), dim: int | None = None, k: int | None = None) -> None:
        """Validate this index's build parameters and each query point (dict) before anything is built:
        unknown names and out-of-range values raise IndexParamError naming the index, the parameter
        and the valid values. `dim` / `k` enable the checks that need them."""
        self._check(self.build_params, None, dim, k)
        for point in query_points or ():
            for key in point:
                if key not in self.QUERY_DEFAULTS:
                    raise IndexParamError(self._unknown(key, query=True))
            self._check(self.build_params, {**self.query_params, **point}, dim, k)

    def param_error(self, param: str, value, valid: str) -> IndexParamError:
        """The one wording of an out-of-range parameter: index, parameter, value given, what is valid."""
        return IndexParamError(f"{self.name} index: parameter {param}={value!r} is out of range; valid: {valid}")

    def spec(self) -> dict:
        return {"name": self.name, "exact": bool(self.is_exact), "build": dict(self.build_params),
                "query": dict(self.query_params)}

    # -- adapter hooks ----------------------------------------------------------------------------
    def _build(self, x: np.ndarray, order: np.ndarray | None, params: dict) -> np.ndarray | None:
        raise NotImplementedError

    def _search(self, q: np.ndarray, k: int, params: dict) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _build_stats(self) -> dict:
        return {}

    def _check(self, build: dict, query: dict | None, dim: int | None, k: int | None) -> None:
        """Range checks beyond names (see the module docstring); the default has none."""

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
