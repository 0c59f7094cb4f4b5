"""faiss HNSW over 8-bit scalar-quantised storage (`IndexHNSWSQ`, QT_8bit): `faiss-hnsw-sq8`.

Everything but the storage is the faiss-hnsw adapter (faiss_hnsw.py): the same parameter names
(M, ef_construction = faiss `efConstruction`, ef = faiss `efSearch` passed per call), range checks,
insertion-order handling and distance convention. Each vector is stored as one byte per dimension
(per-dimension min/max learnt by `train` on all rows before the add), so graph walks and returned
distances use the decoded vectors: distances are approximate (inner product or squared L2 of the
8-bit reconstruction), and the ids can differ from faiss-hnsw's at the same settings.

Threads: `omp_threads` defaults to 1 (build and search), so the QPS measured is single-threaded.
Determinism: SQ training (min/max) is exact and HNSW levels come from faiss's fixed-seed RNG, so a
build is identical for fixed data and parameters (`stats()["deterministic"]` is True).
size_bytes is the length of `faiss.serialize_index` (codes + graph + the trained ranges), measured at
the first stats() call.
"""
from __future__ import annotations

from .faiss_common import SerializedSize, faiss_metric
from .faiss_hnsw import FaissHNSWIndex


class FaissHNSWSQIndex(SerializedSize, FaissHNSWIndex):
    name = "faiss-hnsw-sq8"
    BUILD_DEFAULTS = {**FaissHNSWIndex.BUILD_DEFAULTS, "omp_threads": 1}
    QUERY_DEFAULTS = {**FaissHNSWIndex.QUERY_DEFAULTS, "omp_threads": 1}

    def _new_index(self, dim, params):
        import faiss
        return faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, int(params["M"]), faiss_metric(params["metric"]))

    def _build_stats(self):
        stats = super()._build_stats()
        del stats["size_bytes"]   # the flat formula does not apply: SerializedSize measures it on demand
        return stats


def faiss_hnsw_sq8(**params) -> FaissHNSWSQIndex:
    """Registry factory: `--indexes faiss-hnsw-sq8`."""
    return FaissHNSWSQIndex(**params)
