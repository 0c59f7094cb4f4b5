"""Exact (brute-force) search with faiss's flat kernels, chunked over the corpus with a running top-k.

The index keeps a reference to the vectors (a memmap stays a memmap: nothing is copied). A search
walks the corpus in chunks of `chunk_size` rows, runs `faiss.knn` (the IndexFlatIP / IndexFlatL2
kernel, which itself blocks the score matrix) on each chunk and merges each chunk's top-k into the
running top-k. Peak extra memory is one corpus chunk plus two (n_queries, k) buffers, never a full
queries x corpus matrix. `max_memory_mb`, when given, sets the chunk so that the chunk's vectors and
its (n_queries x chunk) scores fit in that many MiB.
"""
from __future__ import annotations

import numpy as np

from . import checks
from .base import VectorIndex, chunk_rows
from .faiss_common import faiss_metric, library, to_distances


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
        if params.get("max_memory_mb"):
            budget = float(params["max_memory_mb"]) * 2**20
            per_row = 4 * (self.dim + n_queries)  # one corpus row + its column of scores, float32
            return max(1, int(budget // per_row))
        chunk = params.get("chunk_size")
        return int(chunk) if chunk else self.n

    def _search(self, q, k, params):
        import faiss
        name = self.build_params["metric"]
        metric = faiss_metric(name)
        best_d = best_i = None
        for s, e in chunk_rows(self.n, self._chunk(len(q), params)):
            kc = min(k, e - s)
            part = np.ascontiguousarray(self._x[s:e], dtype=np.float32)   # a view unless memmapped
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
