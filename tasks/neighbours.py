"""Exact neighbours and pointwise LID of a base set, cached on disk (the work an index study does once).

- `ground_truth`: exact top-(k + GT_EXTRA) neighbours of each query, from the registry's exact index
  (the harness's one brute-force path), their distances recomputed in float64 and re-sorted
  (stable), so the tie rule of tasks/metrics/ann.py compares exact values.
- `pointwise_lid`: per-row Amsaleg LID (tasks/metrics/intrinsic_dim.py, near-duplicates dropped by
  the kNN's rule and given their kept copy's value).
Both are cached as plain `.npy` files under `<cache>/<key>/` ($HARNESS_GT_CACHE, default
`.cache/ground_truth`), keyed by a sha256 of the arrays and settings, written with harness/io.py's
atomic write and read with its loader; a damaged entry is recomputed. So a second run, or another
insertion order or index, costs no kNN.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from harness.errors import DataError, HarnessError
from harness.io import load_npy, save_npy

from .metrics.ann import ties_at_k

GT_EXTRA = 10   # ground-truth columns kept past k, so the tie rule can see neighbours tied with the k-th


def index_metric(metric: str) -> str:
    """The index metric of a task metric: cosine rows arrive normalised, so cosine searches by inner product."""
    return "ip" if metric in ("ip", "cosine") else "l2"


def default_cache_dir() -> Path:
    return Path(os.environ.get("HARNESS_GT_CACHE") or Path.cwd() / ".cache" / "ground_truth")


def array_digest(*parts) -> str:
    """sha256 over arrays (shape, dtype, bytes, read in blocks) and plain values."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            h.update(f"{p.shape}{p.dtype}".encode())
            flat = p.reshape(len(p), -1) if p.ndim else p.reshape(1)
            for s in range(0, len(flat), 65536):
                h.update(np.ascontiguousarray(flat[s:s + 65536]).tobytes())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"|")
    return h.hexdigest()


def cached_arrays(cache_dir: Path | None, key: str, names: tuple[str, ...], compute):
    """Load `names` from `<cache_dir>/<key>/<name>.npy`, or compute them (a tuple) and store them.
    Returns (arrays, hit). `cache_dir=None` disables the cache."""
    folder = Path(cache_dir) / key if cache_dir is not None else None
    if folder is not None and all((folder / f"{n}.npy").is_file() for n in names):
        try:
            return tuple(load_npy(folder / f"{n}.npy", f"cached {n}") for n in names), True
        except DataError:
            pass   # a damaged entry is recomputed and overwritten
    arrays = compute()
    if folder is not None:
        for n, a in zip(names, arrays):
            save_npy(folder / f"{n}.npy", np.asarray(a))
    return arrays, False


def exact_neighbours(base: np.ndarray, queries: np.ndarray, metric: str, depth: int):
    """Exact top-`depth` (ids, float64 distances, smaller is closer): the registry's exact index, then the
    candidates' distances recomputed in float64 and re-sorted (stable). l2: squared L2; ip: -<q, x>."""
    from harness.registry import make_index
    ids, _ = make_index("exact", metric=index_metric(metric)).build(base).search(queries, depth)
    q64 = queries.astype(np.float64)
    d = np.empty(ids.shape, dtype=np.float64)
    for s in range(0, len(ids), 1024):
        cand = base[ids[s:s + 1024]].astype(np.float64)        # (b, depth, dim)
        qq = q64[s:s + 1024, None, :]
        d[s:s + 1024] = ((cand - qq) ** 2).sum(axis=2) if index_metric(metric) == "l2" else -(cand * qq).sum(axis=2)
    o = np.argsort(d, axis=1, kind="stable")
    return np.take_along_axis(ids, o, 1), np.take_along_axis(d, o, 1)


def ground_truth(base, queries, metric: str, k: int, cache_dir: Path | None = None):
    """(ids, dists, info): exact neighbours to depth min(n, k + GT_EXTRA), cached per
    (vectors, queries, metric, depth). `info` says whether the cache answered and how long it took."""
    depth = min(len(base), k + GT_EXTRA)
    key = "gt-" + array_digest("ground-truth-v1", metric, depth, base, queries)[:32]
    t0 = time.perf_counter()
    (ids, dists), hit = cached_arrays(cache_dir, key, ("ids", "dists"),
                                      lambda: exact_neighbours(base, queries, metric, depth))
    if ids.shape != (len(queries), depth) or dists.shape != ids.shape:
        raise HarnessError(f"ground-truth cache {key}: stored shape {ids.shape} does not match "
                           f"({len(queries)}, {depth}); delete {cache_dir}/{key}")
    return ids, dists, {"cache_key": key, "cache_hit": hit, "seconds": time.perf_counter() - t0, "depth": depth,
                        "queries_with_ties_at_k": ties_at_k(dists, k),
                        "method": "exact index (faiss flat) + float64 refine"}


def pointwise_lid(base, k: int, metric: str, cache_dir: Path | None = None):
    """(per-row Amsaleg LID, info), cached per (vectors, k, metric, duplicate tolerance)."""
    from .metrics.intrinsic_dim import lid_pointwise
    from .metrics.knn import DUPLICATE_REL_TOL, knn
    lid_metric = "cosine" if metric == "cosine" else "l2"
    key = "lid-" + array_digest("lid-amsaleg-v2", lid_metric, k, DUPLICATE_REL_TOL, base)[:32]
    t0 = time.perf_counter()

    def compute():
        res = knn(base, k, lid_metric)
        return res.expand(lid_pointwise(res, k, form="amsaleg")), res.inverse

    (lid, inverse), hit = cached_arrays(cache_dir, key, ("lid", "inverse"), compute)
    finite = lid[np.isfinite(lid)]
    return lid, {"k": k, "form": "amsaleg", "distance": "euclidean" if lid_metric == "l2" else "euclidean on unit "
                 "vectors", "mean": float(finite.mean()), "sd": float(finite.std()),
                 "median": float(np.median(finite)), "n_duplicates_dropped": int(len(lid) - len(np.unique(inverse))),
                 "duplicate_rel_tol": DUPLICATE_REL_TOL, "cache_hit": hit, "seconds": time.perf_counter() - t0}
