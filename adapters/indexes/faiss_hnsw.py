"""faiss IndexHNSWFlat adapter (faiss-cpu 1.15.1).

Build parameters: metric, M, ef_construction, add_chunk_size, omp_threads. Query parameters: ef
(passed per call as `SearchParametersHNSW(efSearch=ef)`, so an ef sweep needs no rebuild and
leaves the index untouched), omp_threads.

Insertion order (methods.md §1.2, faiss `hnsw_add_vertices`): inside one `add()` faiss sorts the
batch by level and shuffles each level with a fixed seed, in parallel. So an `order` is honoured
only approximately, by adding consecutive chunks of `add_chunk_size` rows (1 = exact, slow; <= 1% of
n approximates it) with one OpenMP thread. When an order is given and no chunk size was set, the
chunk defaults to max(1, n // 100) and `omp_threads` to 1; stats() records both as used.
faiss keeps no ef >= k rule of its own; the adapter raises `ValueError("ef must be >= k")`.

Distances: faiss returns the inner product for METRIC_INNER_PRODUCT; it is negated (harness
convention, base.py). Missing results (label -1) become id -1 / distance +inf.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from .base import VectorIndex, check_ef, chunk_rows


@contextmanager
def omp_threads(n: int | None):
    """Set faiss's OpenMP thread count for a block, then restore it (it is process-global)."""
    import faiss
    if not n:
        yield int(faiss.omp_get_max_threads())
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(int(n))
    try:
        yield int(n)
    finally:
        faiss.omp_set_num_threads(before)


class FaissHNSWIndex(VectorIndex):
    name = "faiss-hnsw"
    # Same M / ef_construction as the hnswlib adapter (faiss's own defaults are M=32, efC=40, efSearch=16),
    # so the two libraries are compared on equal settings.
    BUILD_DEFAULTS = {"metric": "ip", "M": 16, "ef_construction": 128, "add_chunk_size": None, "omp_threads": None}
    QUERY_DEFAULTS = {"ef": 100, "omp_threads": None}

    def _build(self, x, order, params):
        import faiss
        metric = faiss.METRIC_L2 if params["metric"] == "l2" else faiss.METRIC_INNER_PRODUCT
        index = faiss.IndexHNSWFlat(int(x.shape[1]), int(params["M"]), metric)
        index.hnsw.efConstruction = int(params["ef_construction"])
        chunk, threads = params["add_chunk_size"], params["omp_threads"]
        if order is not None:
            chunk = chunk or max(1, len(x) // 100)
            threads = threads or 1
        positions = order if order is not None else np.arange(len(x), dtype=np.int64)
        with omp_threads(threads) as used:
            # chunk None: one add() of all rows (faiss's own level-bucketed, shuffled insertion)
            for s, e in chunk_rows(len(x), chunk):
                block = x[positions[s:e]] if order is not None else x[s:e]
                index.add(np.ascontiguousarray(block, dtype=np.float32))
        self._index = index
        self._used = {"add_chunk_size": chunk, "threads": used}
        return positions

    def _search(self, q, k, params):
        import faiss
        ef = int(params["ef"])
        check_ef(ef, k)
        with omp_threads(params["omp_threads"]):
            d, i = self._index.search(q, k, params=faiss.SearchParametersHNSW(efSearch=ef))
        if self.build_params["metric"] != "l2":
            d = -d
        return i.astype(np.int64), d

    def _build_stats(self):
        h = self._index.hnsw
        # in-memory size: flat vectors + graph (neighbours int32, levels int32, offsets uint64)
        size = self.n * self.dim * 4 + h.neighbors.size() * 4 + h.levels.size() * 4 + h.offsets.size() * 8
        return {"size_bytes": int(size), "library": "faiss", **self._used}


def faiss_hnsw(**params) -> FaissHNSWIndex:
    """Registry factory: `--indexes faiss-hnsw`."""
    return FaissHNSWIndex(**params)
