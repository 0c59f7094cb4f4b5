"""Timing and memory measurements of an ANN sweep (methods.md §6.3): build, batch QPS, latency, threads.

- `measure_build`: builds an index once while a background thread samples the process RSS every
  `interval_s` (Linux `/proc/self/statm`, psutil elsewhere); peak memory = max sampled RSS minus the
  RSS just before the build, taken after freed heap memory is handed back to the OS (glibc
  `malloc_trim`, so a build reusing memory an earlier step freed still shows). RSS-based: pages
  touched only between two samples, or reserved by an allocator that does not trim, are missed, and
  a memory-mapped file counts when read; a lower bound of what the build needs, comparable across
  the indexes of one run.
- `batch_qps`: all queries in one `search` call; one warm-up call (its result is returned, for
  recall: the quality check is never inside a timed region), then R timed calls
  (`time.perf_counter_ns`); QPS = n_queries / best time, the median beside it.
- `latencies`: one query per `search` call (the adapter's checks included, as a user calls it),
  p50 / p95 / p99 in milliseconds over the first `cap` queries (numpy's linear percentile).
- `search_threads`: how a search runs on N threads. The adapter's own query thread parameter when it
  has one (hnswlib `num_threads`, faiss `omp_threads`, usearch `threads`), and always threadpoolctl's
  limit on the OpenMP / BLAS pools for the timed block, so indexes without a thread parameter (exact
  search on faiss kernels) are pinned too. A thread count the query point sets itself wins; an index
  whose threads are a build parameter only (LanceDB) searches with those. The count used is recorded.
"""
from __future__ import annotations

import gc
import os
import threading
import time
from contextlib import contextmanager

import numpy as np

THREAD_PARAMS = ("num_threads", "omp_threads", "threads", "n_threads")   # query names adapters use
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Resident set size of this process."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:   # not Linux
        import psutil
        return int(psutil.Process().memory_info().rss)


def release_free_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc `malloc_trim`), so that a build
    reusing memory an earlier step freed still shows as RSS growth. A no-op where glibc is absent."""
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakRSS:
    """Context manager: samples RSS in a daemon thread; `.peak_bytes` = max RSS - RSS at entry (>= 0)."""

    def __init__(self, interval_s: float = 0.002):
        self.interval_s = interval_s
        self.peak_bytes = 0
        self.samples = 0

    def __enter__(self) -> "PeakRSS":
        release_free_memory()
        self._before = self._peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ann-peak-rss", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        self._peak = max(self._peak, rss_bytes())
        self.samples += 1

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()   # a build shorter than one interval still gets its end state
        self.peak_bytes = max(0, self._peak - self._before)


def measure_build(index, base: np.ndarray, **build_params) -> dict:
    """Build `index` on `base` (ids = row numbers) and return seconds, RSS peak, size, threads."""
    with PeakRSS() as mem:
        t0 = time.perf_counter_ns()
        index.build(base, **build_params)
        seconds = (time.perf_counter_ns() - t0) / 1e9
    stats = index.stats()
    return {"seconds": seconds, "peak_memory_bytes": int(mem.peak_bytes), "size_bytes": int(stats["size_bytes"]),
            "threads": stats.get("threads"), "rss_samples": mem.samples,
            "peak_memory_method": "process RSS sampled every 2 ms during build, minus RSS before (lower bound)"}


def thread_param(index, table: str = "QUERY_DEFAULTS") -> str | None:
    """The adapter's thread parameter in `table` (QUERY_DEFAULTS or BUILD_DEFAULTS), if it has one."""
    return next((p for p in THREAD_PARAMS if p in getattr(index, table, {})), None)


def search_threads(index, point: dict, threads: int) -> tuple[dict, int, str]:
    """(query parameters for a search on `threads` threads, the thread count it really runs with, how).

    A query thread parameter is set (unless the query point sets it: then that value holds); an index
    whose only thread parameter is a build one (LanceDB's pool size, fixed per process) searches with the
    build's count; an index with neither (exact search on faiss kernels) with the pinned OpenMP/BLAS pools."""
    name = thread_param(index)
    if name is not None:
        if point.get(name) is not None:   # the grid chose it: honoured, and recorded as such
            return dict(point), int(point[name]), f"query parameter {name} (set by the query point)"
        return {**point, name: threads}, threads, f"query parameter {name}"
    build = thread_param(index, "BUILD_DEFAULTS")
    if build is not None and getattr(index, "build_params", {}).get(build) is not None:
        return dict(point), int(index.build_params[build]), f"build parameter {build} (fixed at build)"
    return dict(point), threads, "OpenMP/BLAS pools (threadpoolctl)"


@contextmanager
def pinned_pools(threads: int):
    """Limit the OpenMP and BLAS thread pools (faiss, numpy) to `threads` for the block."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=int(threads)):
        yield


def batch_qps(search, queries: np.ndarray, repeats: int) -> tuple[tuple, dict]:
    """(result of the warm-up search, {"qps", "qps_median", "best_s", "repeats"}); `search(q)` runs one batch."""
    result = search(queries)          # warm-up, discarded from timing
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        search(queries)
        times.append((time.perf_counter_ns() - t0) / 1e9)
    best = min(times)
    nq = len(queries)
    return result, {"qps": nq / best if best > 0 else None, "qps_median": nq / float(np.median(times)),
                    "best_s": best, "repeats": repeats}


def latencies(search, queries: np.ndarray, cap: int | None) -> dict:
    """One query per call over the first `cap` queries (all when None): p50 / p95 / p99 / mean in ms."""
    m = len(queries) if cap is None else min(int(cap), len(queries))
    search(queries[:1])               # warm-up
    ns = np.empty(m, dtype=np.int64)
    for i in range(m):
        q = queries[i:i + 1]
        t0 = time.perf_counter_ns()
        search(q)
        ns[i] = time.perf_counter_ns() - t0
    ms = ns / 1e6
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(ms.mean()), "n_queries": m}
