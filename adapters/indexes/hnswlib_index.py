"""hnswlib HNSW adapter (hnswlib 0.8.0), deterministic by default.

Build parameters: metric, M, ef_construction, random_seed (hnswlib's level RNG), num_threads,
add_chunk_size. Query parameters: ef, num_threads. `set_ef` is called per search, so an ef sweep
needs no rebuild. Range checks (`_check`): M >= 2, ef_construction >= 1, ef >= 1 and >= k,
random_seed >= 0, num_threads >= 1 or -1 (all cores), add_chunk_size >= 1 or None.

Reproducibility (methods.md §1.3): hnswlib's default `num_threads=-1` inserts in whatever order
the threads take points, so graph and levels change run to run; this adapter defaults to
`num_threads=1`, which inserts points exactly in the given `order` (row order otherwise). Points
are added in chunks of `add_chunk_size` rows so a memmapped corpus is never copied whole; with one
thread chunked adds give the same graph as one add. hnswlib silently raises ef to k; this adapter
raises `ValueError("ef must be >= k")` instead so runs are comparable with faiss.

Distances: hnswlib's 'ip' space returns 1 - <q, x> in float32; it is converted to -<q, x> (the
harness convention, base.py). 'cosine' is 'ip' on normalised vectors (normalised by base.py).
"""
from __future__ import annotations

import numpy as np

from harness.errors import HarnessError

from . import checks
from .base import VectorIndex, chunk_rows


class HnswlibIndex(VectorIndex):
    name = "hnswlib"
    # M=16 / ef_construction=128: the median vector-DB defaults Elliott & Clark fixed (methods.md §1.1);
    # random_seed=100 is hnswlib's own default. ef=100 lets the retrieval task take a top-100.
    BUILD_DEFAULTS = {"metric": "ip", "M": 16, "ef_construction": 128, "random_seed": 100, "num_threads": 1,
                      "add_chunk_size": 65536}
    QUERY_DEFAULTS = {"ef": 100, "num_threads": 1}

    def _check(self, build, query, dim, k):
        checks.hnsw_params(self, build, query, k)
        checks.int_param(self, build, "random_seed", 0)
        checks.chunk_param(self, build)
        for params in (build, query) if query is not None else (build,):
            threads = params.get("num_threads")
            if not (checks.is_int(threads) and (threads >= 1 or threads == -1)):
                raise self.param_error("num_threads", threads, "an integer >= 1, or -1 (all cores)")

    def _build(self, x, order, params):
        import hnswlib
        space = "l2" if params["metric"] == "l2" else "ip"   # cosine vectors arrive normalised
        index = hnswlib.Index(space=space, dim=int(x.shape[1]))
        index.init_index(max_elements=len(x), M=int(params["M"]), ef_construction=int(params["ef_construction"]),
                         random_seed=int(params["random_seed"]))
        positions = order if order is not None else np.arange(len(x), dtype=np.int64)
        # hnswlib labels = position in insertion order; self._labels maps them back to caller ids
        for s, e in chunk_rows(len(x), params["add_chunk_size"]):
            rows = positions[s:e]
            block = x[rows] if order is not None else x[s:e]
            index.add_items(np.ascontiguousarray(block, dtype=np.float32), np.arange(s, e, dtype=np.int64),
                            num_threads=int(params["num_threads"]))
        self._index = index
        self._space = space
        return positions

    def _search(self, q, k, params):
        ef = int(params["ef"])   # >= k: checked by _check before every search
        self._index.set_ef(ef)
        try:
            labels, dist = self._index.knn_query(q, k=k, num_threads=int(params["num_threads"]))
        except RuntimeError as e:  # fewer than k reachable results
            raise HarnessError(f"hnswlib search failed for k={k}, ef={ef}: {e} (raise ef or M)") from None
        if self._space == "ip":
            np.subtract(dist, np.float32(1.0), out=dist)   # 1 - ip -> -ip, in place: the array is ours
        return labels.view(np.int64), dist   # uint64 labels < n: the same bits as int64, no copy

    def _build_stats(self):
        return {"size_bytes": int(self._index.index_file_size()), "threads": int(self.build_params["num_threads"]),
                "library": f"hnswlib {_version()}", "deterministic": self.build_params["num_threads"] == 1}


def _version() -> str:
    from importlib import metadata
    return metadata.version("hnswlib")


def hnswlib_index(**params) -> HnswlibIndex:
    """Registry factory: `--indexes hnswlib`."""
    return HnswlibIndex(**params)
