"""What every faiss adapter shares: thread setting, metric mapping, distance sign, size, version label.

faiss is imported inside the functions, so importing an adapter module stays cheap.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np


@contextmanager
def omp_threads(n: int | None):
    """Set faiss's OpenMP thread count for a block, then restore it (it is process-global).
    None: leave faiss's default (all cores). Yields the count in force."""
    import faiss
    if not n:
        yield int(faiss.omp_get_max_threads())
        return
    before = faiss.omp_get_max_threads()
    if before == int(n):   # nothing to change: skip the two calls on every search
        yield before
        return
    faiss.omp_set_num_threads(int(n))
    try:
        yield int(n)
    finally:
        faiss.omp_set_num_threads(before)


def faiss_metric(metric: str) -> int:
    """faiss's metric for ours: cosine is inner product on the unit rows base.py hands over."""
    import faiss
    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


def to_distances(d: np.ndarray, metric: str) -> np.ndarray:
    """faiss's scores -> harness distances (smaller is closer): squared L2 as is, inner product negated
    in place (the array is ours, fresh from faiss)."""
    if metric != "l2":
        np.negative(d, out=d)
    return d


def library() -> str:
    import faiss
    return f"faiss {faiss.__version__}"


def serialized_size(index) -> int:
    """Bytes of `faiss.serialize_index(index)`: what the index takes on disk (and, within a few header
    bytes, in memory)."""
    import faiss
    return int(faiss.serialize_index(index).nbytes)


class SerializedSize:
    """Mixin for a VectorIndex holding its faiss index in `self._index`: `stats()["size_bytes"]` is the
    serialized length, measured on the first `stats()` call after a build rather than inside `build`
    (serializing copies the whole index: ~3% of an IVF-Flat build's time, bench/index_vs_raw.py)."""

    def stats(self) -> dict:
        if self.dim is not None and "size_bytes" not in self._stats:
            self._stats["size_bytes"] = serialized_size(self._index)
        return super().stats()
