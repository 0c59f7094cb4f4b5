"""Exact (brute-force) search with faiss's flat kernels, chunked over the corpus with a running top-k.

The index keeps a reference to the vectors (a memmap stays a memmap: nothing is copied). A search
walks the corpus in chunks of rows, runs `faiss.knn` (the IndexFlatIP / IndexFlatL2 kernel) on each
chunk and merges each chunk's top-k into the running top-k. The chunk is `chunk_size` rows, or, when
`max_memory_mb` is given (else `$HARNESS_MAX_MEMORY_MB`, which `run --max-memory` sets for a job), as
many rows as fit that many MiB at one float32 corpus row plus one score per query each. A chunk of at
least 1024 rows is rounded down to a multiple of faiss's BLAS database block
(`distance_compute_blas_database_bs`, 1024 rows): each chunk then makes exactly the sgemm calls one
IndexFlatIP / IndexFlatL2 search over the whole corpus makes, so distances are bitwise faiss flat's
and ids equal its ids (up to the order of ids whose distances are exactly equal: faiss's heap settles
those by its scan order, which a merge cannot replay).

Memory: a chunk of the corpus is a view (the corpus is C-contiguous float32 after `build`), so for a
memmap its rows are file-backed page-cache pages, never anonymous memory; faiss never materialises
the queries x chunk scores (it works in blocks of 4096 queries x 1024 rows, 16 MiB). A search's own
allocations are therefore that block plus a few (n_queries, k) arrays, whatever the corpus size
(bench/scale.py: 1M x 384 memmapped rows, 1,000 queries, about 50 MiB of anonymous memory for the
whole process, at raw IndexFlatIP's search speed).
"""
from __future__ import annotations

import os

import numpy as np

from . import checks
from .base import IndexParamError, VectorIndex, chunk_rows
from .faiss_common import faiss_metric, library, to_distances

BUDGET_ENV = "HARNESS_MAX_MEMORY_MB"   # set by harness/runner.py's memory_budget for one job


class ExactIndex(VectorIndex):
    name = "exact"
    is_exact = True
    BUILD_DEFAULTS = {"metric": "ip"}
    QUERY_DEFAULTS = {"chunk_size": 50_000, "max_memory_mb": None}

    def _build(self, x, order, params):
        self._x = x   # order cannot change exact results: accepted and ignored
        return None

    def _check(self, build, query, dim, k):
        if query is None:
            return
        checks.int_param(self, query, "chunk_size", 1, none="the whole corpus at once")
        checks.positive_param(self, query, "max_memory_mb", none="chunk_size sets the chunk")

    def _chunk(self, n_queries: int, params: dict) -> int:
        """Rows per chunk before block alignment: from the memory budget, else chunk_size (None: all)."""
        mb = params.get("max_memory_mb") or env_budget()
        if mb:
            per_row = 4 * (self.dim + n_queries)  # one corpus row + its column of scores, float32
            return max(1, int(float(mb) * 2**20 // per_row))
        chunk = params.get("chunk_size")
        return int(chunk) if chunk else self.n

    def _search(self, q, k, params):
        import faiss
        name = self.build_params["metric"]
        metric = faiss_metric(name)
        best_d = best_i = None
        for s, e in chunk_rows(self.n, block_aligned(self._chunk(len(q), params))):
            kc = min(k, e - s)
            part = np.ascontiguousarray(self._x[s:e], dtype=np.float32)   # a view: x is C-contiguous float32
            d, i = faiss.knn(q, part, kc, metric=metric)
            d = to_distances(d, name)   # in place: smaller is closer
            if s:
                i += s
            if best_d is None:
                best_d, best_i = d, i
            else:
                best_d, best_i = merge_topk(best_d, best_i, d, i, k)
        if best_d.shape[1] < k:  # only possible when n < k, which search() refuses; kept for safety
            pad = k - best_d.shape[1]
            best_d = np.pad(best_d, ((0, 0), (0, pad)), constant_values=np.inf)
            best_i = np.pad(best_i, ((0, 0), (0, pad)), constant_values=-1)
        return best_i, best_d

    def _build_stats(self):
        return {"size_bytes": int(self.n * self.dim * 4), "threads": _faiss_threads(), "library": library(),
                "deterministic": True}


def env_budget() -> float | None:
    """`$HARNESS_MAX_MEMORY_MB` as a positive number of MiB, None when unset or empty."""
    raw = os.environ.get(BUDGET_ENV, "").strip()
    if not raw:
        return None
    try:
        mb = float(raw)
    except ValueError:
        mb = float("nan")
    if not mb > 0:
        raise IndexParamError(f"exact index: {BUDGET_ENV}={raw!r} is not a positive number of MiB")
    return mb


def block_aligned(rows: int) -> int:
    """`rows` rounded down to a multiple of faiss's BLAS database block when it holds at least one block."""
    import faiss
    block = int(faiss.cvar.distance_compute_blas_database_bs)
    return rows if rows < block else rows - rows % block


def merge_topk(d1, i1, d2, i2, k):
    """Keep the k smallest distances per row of two candidate lists (ties: first list, then position)."""
    d = np.concatenate([d1, d2], axis=1)
    i = np.concatenate([i1, i2], axis=1)
    sel = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, sel, axis=1), np.take_along_axis(i, sel, axis=1)


def _faiss_threads() -> int:
    import faiss
    return int(faiss.omp_get_max_threads())


def exact(**params) -> ExactIndex:
    """Registry factory: `--indexes exact`."""
    return ExactIndex(**params)
