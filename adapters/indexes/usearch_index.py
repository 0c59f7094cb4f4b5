"""usearch HNSW adapter (usearch 2.26.6), deterministic by default.

Build parameters: metric, dtype ("f32", "f16", "i8": how usearch stores the vectors), M (usearch
`connectivity`), ef_construction (`expansion_add`), threads, add_chunk_size. Query parameters: ef
(`expansion_search`, set per call, so an ef sweep needs no rebuild), threads.

Reproducibility: usearch has no seed parameter. Its level generator is a default-constructed
`std::default_random_engine` per thread context (include/usearch/index.hpp), so a build with one
thread is byte-identical run to run (checked: `save()` bytes equal), while several threads take points
in a racy order and give another graph each time. `threads` defaults to 1 (usearch's 0 = all cores is
refused: say the number). Rows are added in chunks of `add_chunk_size` in the given `order`; with one
thread chunked adds build the same graph as one add.

Metrics and distances (smaller is closer, base.py): usearch's "ip" returns 1 - <q, x> and "cos"
1 - cos(q, x), converted to -<q, x> / -cos by subtracting 1; "l2sq" is the squared L2 distance as is.
`cosine` uses usearch "ip" on the rows base.py normalised (as hnswlib does; "cos" would redo the norms).
i8 storage is different (index_plugins.hpp `cast_to_i8_gt`): every vector is divided by its own norm
and scaled by 127 before it is stored, so i8 keeps only directions. So i8 is refused with l2, and with
ip it needs unit rows (an error names the first row that is not); ip / cosine in i8 use usearch's "cos"
kernel on the int8 codes, whose distance 1 - cos is converted as above (times |q| for ip: on unit rows
ip = |q| cos, and the ranking is the same). f16 and i8 distances are those
of the stored (quantised) vectors, not of the float32 input.
"""
from __future__ import annotations

import numpy as np

from . import checks
from .base import IndexParamError, VectorIndex, chunk_rows

DTYPES = ("f32", "f16", "i8")
UNIT_TOL = 1e-3   # |norm - 1| allowed for ip with i8 (float32 rows normalised elsewhere are within 1e-6)


class USearchIndex(VectorIndex):
    name = "usearch"
    # M / ef_construction as the other HNSW adapters (usearch's own defaults are 16 / 128 too; its ef is 64)
    BUILD_DEFAULTS = {"metric": "ip", "dtype": "f32", "M": 16, "ef_construction": 128, "threads": 1,
                      "add_chunk_size": 65536}
    QUERY_DEFAULTS = {"ef": 100, "threads": 1}

    def _check(self, build, query, dim, k):
        if build["dtype"] not in DTYPES:
            raise self.param_error("dtype", build["dtype"], ", ".join(DTYPES))
        if build["dtype"] == "i8" and build["metric"] == "l2":
            raise self.param_error("dtype", "i8", "f32 or f16 with metric l2 (usearch stores i8 vectors "
                                   "divided by their norm, which changes l2 neighbours)")
        checks.hnsw_params(self, build, query, k)   # M >= 2, ef_construction >= 1, ef >= k
        checks.int_param(self, build, "threads", 1)   # usearch's 0 (all cores) is refused: say the number
        checks.chunk_param(self, build)
        if query is not None:
            checks.int_param(self, query, "threads", 1)

    def _build(self, x, order, params):
        from usearch.index import Index
        if params["dtype"] == "i8" and params["metric"] == "ip":
            _require_unit_rows(self, x)
        kind = self._kind(params)
        index = Index(ndim=int(x.shape[1]), metric=kind, dtype=params["dtype"], connectivity=int(params["M"]),
                      expansion_add=int(params["ef_construction"]))
        positions = order if order is not None else np.arange(len(x), dtype=np.int64)
        # usearch keys = insertion position; base.py maps positions back to the caller's ids
        for s, e in chunk_rows(len(x), params["add_chunk_size"]):
            block = x[positions[s:e]] if order is not None else x[s:e]
            index.add(np.arange(s, e, dtype=np.uint64), np.ascontiguousarray(block, dtype=np.float32),
                      threads=int(params["threads"]))
        self._index, self._kind_used = index, kind
        return positions

    def _search(self, q, k, params):
        self._index.expansion_search = int(params["ef"])
        m = self._index.search(q, k, threads=int(params["threads"]))
        keys, dist, counts = _batch(m, len(q), k)
        valid = np.arange(k)[None, :] < counts[:, None]
        positions = np.where(valid, keys.astype(np.int64), -1)
        if self._kind_used != "l2sq":
            dist = dist - np.float32(1.0)   # 1 - ip (1 - cos) -> -ip (-cos)
        if self._kind_used == "cos" and self.build_params["metric"] == "ip":
            dist = dist * np.linalg.norm(q, axis=1, keepdims=True)   # unit rows: ip = |q| cos
        return positions, np.where(valid, dist, np.inf).astype(np.float32, copy=False)

    def _build_stats(self):
        import usearch
        threads = int(self.build_params["threads"])
        return {"size_bytes": int(self._index.serialized_length), "memory_usage_bytes": int(self._index.memory_usage),
                "threads": threads, "deterministic": threads == 1, "dtype": self.build_params["dtype"],
                "usearch_metric": self._kind_used, "library": f"usearch {usearch.__version__}"}

    @staticmethod
    def _kind(params) -> str:
        if params["metric"] == "l2":
            return "l2sq"
        return "cos" if params["dtype"] == "i8" else "ip"   # i8 codes are not unit length: use the cos kernel


def _batch(m, nq: int, k: int):
    """(keys, distances, counts) as (nq, k) / (nq,) arrays from usearch's Matches or BatchMatches."""
    if hasattr(m, "counts"):
        return np.asarray(m.keys), np.asarray(m.distances, dtype=np.float32), np.asarray(m.counts)
    # one query: usearch returns a Matches with only the found results
    keys = np.zeros((1, k), np.uint64)
    dist = np.full((1, k), np.inf, np.float32)
    found = len(m.keys)
    keys[0, :found], dist[0, :found] = m.keys, m.distances
    return keys, dist, np.array([found] * nq)


def _require_unit_rows(index: VectorIndex, x: np.ndarray) -> None:
    norms = np.linalg.norm(x, axis=1)
    bad = np.flatnonzero(np.abs(norms - 1.0) > UNIT_TOL)
    if len(bad):
        raise IndexParamError(f"{index.name} index: dtype='i8' with metric 'ip' needs unit-length rows (usearch "
                              f"stores i8 vectors divided by their norm); row {int(bad[0])} has norm "
                              f"{float(norms[bad[0]]):.4g}. Use metric='cosine', or dtype f32 / f16")


def usearch_index(**params) -> USearchIndex:
    """Registry factory: `--indexes usearch`."""
    return USearchIndex(**params)
