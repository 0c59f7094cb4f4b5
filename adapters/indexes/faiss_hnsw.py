"""faiss IndexHNSWFlat adapter (faiss-cpu 1.15.1).

Build parameters: metric, M, ef_construction (faiss `hnsw.efConstruction`), add_chunk_size,
omp_threads. Query parameters: ef (faiss `efSearch`, passed per call as
`SearchParametersHNSW(efSearch=ef)`, so an ef sweep needs no rebuild and leaves the index
untouched), omp_threads. Range checks (`_check`): M >= 2, ef_construction >= 1, ef >= 1 and >= k,
add_chunk_size and omp_threads >= 1 or None.

Insertion order (methods.md §1.2, faiss `hnsw_add_vertices`): inside one `add()` faiss sorts the
batch by level and shuffles each level with a fixed seed, in parallel. So an `order` is honoured
only approximately, by adding consecutive chunks of `add_chunk_size` rows (1 = exact, slow; <= 1% of
n approximates it) with one OpenMP thread. When an order is given and no chunk size was set, the
chunk defaults to max(1, n // 100) and `omp_threads` to 1; stats() records both as used.
faiss keeps no ef >= k rule of its own; the adapter raises `ValueError("ef must be >= k")`.

Determinism: levels come from faiss's fixed-seed RNG and the serialized index was byte-identical on
1 and 2 threads (environment.md §4), so `stats()["deterministic"]` is True. `omp_threads` defaults to
None (all cores) for the job keys already published; the index studies pass 1.

Distances: faiss returns the inner product for METRIC_INNER_PRODUCT; it is negated (harness
convention, base.py). Missing results (label -1) become id -1 / distance +inf.
`FaissHNSWSQIndex` (faiss_hnsw_sq.py) reuses all of this over SQ8 storage via `_new_index`.
"""
from __future__ import annotations

import numpy as np

from . import checks
from .base import VectorIndex, chunk_rows
from .faiss_common import faiss_metric, library, omp_threads, to_distances

class FaissHNSWIndex(VectorIndex):
    name = "faiss-hnsw"
    # Same M / ef_construction as the hnswlib adapter (faiss's own defaults are M=32, efC=40, efSearch=16),
    # so the two libraries are compared on equal settings.
    BUILD_DEFAULTS = {"metric": "ip", "M": 16, "ef_construction": 128, "add_chunk_size": None, "omp_threads": None}
    QUERY_DEFAULTS = {"ef": 100, "omp_threads": None}

    def _check(self, build, query, dim, k):
        checks.hnsw_params(self, build, query, k)
        checks.chunk_param(self, build)
        checks.threads_param(self, build, "omp_threads")
        if query is not None:
            checks.threads_param(self, query, "omp_threads")

    def _new_index(self, dim: int, params: dict):
        """The empty library index (subclasses change the storage)."""
        import faiss
        return faiss.IndexHNSWFlat(dim, int(params["M"]), faiss_metric(params["metric"]))

    def _build(self, x, order, params):
        index = self._new_index(int(x.shape[1]), params)
        index.hnsw.efConstruction = int(params["ef_construction"])
        chunk, threads = params["add_chunk_size"], params["omp_threads"]
        if order is not None:
            chunk = chunk or max(1, len(x) // 100)
            threads = threads or 1
        positions = order if order is not None else np.arange(len(x), dtype=np.int64)
        with omp_threads(threads) as used:
            if not index.is_trained:   # quantised storage learns its ranges from all rows first
                index.train(x)
            # chunk None: one add() of all rows (faiss's own level-bucketed, shuffled insertion)
            for s, e in chunk_rows(len(x), chunk):
                block = x[positions[s:e]] if order is not None else x[s:e]   # a view unless ordered
                index.add(np.ascontiguousarray(block, dtype=np.float32))
        self._index = index
        self._used = {"add_chunk_size": chunk, "threads": used}
        return positions

    def _search(self, q, k, params):
        import faiss
        with omp_threads(params["omp_threads"]):
            d, i = self._index.search(q, k, params=faiss.SearchParametersHNSW(efSearch=int(params["ef"])))
        return i, to_distances(d, self.build_params["metric"])

    def _build_stats(self):
        h = self._index.hnsw
        # in-memory size: flat vectors + graph (neighbours int32, levels int32, offsets uint64)
        size = self.n * self.dim * 4 + h.neighbors.size() * 4 + h.levels.size() * 4 + h.offsets.size() * 8
        return {"size_bytes": int(size), "library": library(), "deterministic": True, **self._used}


def faiss_hnsw(**params) -> FaissHNSWIndex:
    """Registry factory: `--indexes faiss-hnsw`."""
    return FaissHNSWIndex(**params)
