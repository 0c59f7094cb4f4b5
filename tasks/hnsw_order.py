"""HNSW recall vs insertion order (Elliott & Clark 2024; methods.md §1): task `HNSWInsertionOrder`.

A run is described by a small data spec (task params):

    source        vector source (tasks/vector_sources.py): gram_schmidt | gmm | beir | word_vectors | npy | model
    metric        l2 | ip | cosine (cosine: rows L2-normalised once, then inner product everywhere)
    k             neighbours per query (recall@k)
    builds        list of HNSW build parameters, e.g. [{"M": 16, "ef_construction": 128}]
    ef            efSearch values swept on each built index (no rebuild), each >= k
    orders        "all" or a list of: random, lid_desc, lid_asc, by_category, clustered, given
    random_seeds  seeds of the random baseline orders (R >= 5): default_rng(seed).permutation(n)
    libraries     hnswlib (num_threads=1 insertion, random_seed=hnsw_seed) and/or faiss
                  (IndexHNSWFlat, consecutive add() chunks of faiss_chunk rows, 1 OpenMP thread)

Orders (permutations of the base rows): `lid_desc` / `lid_asc` sort by pointwise LID (Amsaleg form,
k = lid_k, from tasks/metrics/knn.py; stable sort, ties keep row order); `by_category` is a stable
sort by the source's labels (sorted label order); `clustered` is a stable sort by k-means cluster
(faiss Kmeans, `clusters`, `cluster_seed`); `given` is the source's row order (or a
permutation in a user `.npy`, `given_order`).

Work done once: exact ground truth per (vectors, queries, metric, depth) is computed with faiss flat
kernels, its distances re-computed in float64 and re-sorted, and cached on disk as `.npy`
($HARNESS_GT_CACHE, default `.cache/ground_truth`), so a second run, or another order, costs no kNN;
pointwise LID is cached the same way. Each (library, build, order) index is built once and all ef
values are searched on it. Recall is tie-aware (tasks/metrics/ann.py, methods.md §6.1):
`recall_tie` is the main figure, `recall_id` is kept beside it. The order effect is reported in
percentage points against the mean of the random orders, with their std (ddof=1), and flagged only
when |effect| > 2 x std.

Result: main score `recall_random_mean` (recall_tie@k of the random orders, main library / first
build / ef = main_ef); scores give each library's random mean and std, every non-random order's effect
at main_ef, the largest |effect| and the largest flagged one over every build and ef. `details`
holds every (library, build, order, ef) record (recall, std, overall ratio, QPS), every build (seconds,
bytes, chunk size), the effect table and the ground-truth / LID cache use. Sidecars:
`per_query_recall_tie` and `per_query_recall_id` (one row per record, `sidecar_row`) and `lid`.

Run:
    python run.py run --suite hnsw-order-ci                     # HNSWInsertionOrder-Synthetic, seconds (CI)
    python run.py run --tasks HNSWInsertionOrder-SciFact        # MiniLM on SciFact, both libraries, all orders
    python run.py run --suite hnsw-order                        # the full sweep (SciFact, NFCorpus, w2v,
                                                                #   GMM = methods.md §1.4 B, Gram-Schmidt k_i=64)
    python run.py run --tasks HNSWInsertionOrder --task-params \
        '{"HNSWInsertionOrder": {"source": {"kind": "npy", "path": "/data/x.npy", "nq": 1000}}}'
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from harness.data import DatasetRecord
from harness.errors import DataError, HarnessError

from .base import DESCRIPTIVE, HIGHER, LOWER, ScoreRule, Task, TaskOutput
from .metrics.ann import order_effects, overall_ratio, recall_at_k, ties_at_k

ORDER_KINDS = ("random", "lid_desc", "lid_asc", "by_category", "clustered", "given")
LIBRARIES = ("hnswlib", "faiss")
METRICS = ("l2", "ip", "cosine")
PAPER_BUILD = {"M": 16, "ef_construction": 128}   # methods.md §1.1: median vector-DB defaults
PAPER_EF = 40
GT_EXTRA = 10   # ground-truth columns kept past k, so the tie rule can see neighbours tied with the k-th


# -- input checks ----------------------------------------------------------------------------------
def check_setup(n: int, k: int, efs, metric: str) -> None:
    from adapters.indexes.base import check_ef
    if metric not in METRICS:
        raise HarnessError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise HarnessError(f"k must be a positive integer, got {k!r}")
    if k > n:
        raise HarnessError(f"k={k} is larger than the number of base vectors ({n})")
    if not efs:
        raise HarnessError("ef: give at least one efSearch value")
    for ef in efs:
        check_ef(int(ef), int(k))   # ValueError "ef must be >= k": hnswlib would silently raise ef to k


def prepare_vectors(base, queries, metric: str, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """float32 C-contiguous copies (conversion noted); cosine: rows normalised once (zero row: error)."""
    from adapters.indexes.base import check_nonzero

    from .vector_sources import as_vectors
    base = as_vectors(base, "base vectors", notes)
    queries = as_vectors(queries, "queries", notes)
    if base.shape[1] != queries.shape[1]:
        raise HarnessError(f"queries have dim {queries.shape[1]} but base vectors have dim {base.shape[1]}")
    if metric == "cosine":
        check_nonzero(base, "base vectors (cosine)")
        check_nonzero(queries, "queries (cosine)")
        base = np.ascontiguousarray(base / np.linalg.norm(base, axis=1, keepdims=True), dtype=np.float32)
        queries = np.ascontiguousarray(queries / np.linalg.norm(queries, axis=1, keepdims=True), dtype=np.float32)
    return base, queries


def index_metric(metric: str) -> str:
    return "ip" if metric in ("ip", "cosine") else "l2"   # cosine rows arrive normalised


# -- on-disk cache of derived arrays (ground truth, LID) -------------------------------------------
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


def _atomic_save(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, arr, allow_pickle=False)
    os.replace(tmp, path)


def cached_arrays(cache_dir: Path | None, key: str, names: tuple[str, ...], compute):
    """Load `names` from `<cache_dir>/<key>/<name>.npy`, or compute them (a tuple) and store them.
    Returns (arrays, hit). `cache_dir=None` disables the cache."""
    folder = Path(cache_dir) / key if cache_dir is not None else None
    if folder is not None and all((folder / f"{n}.npy").is_file() for n in names):
        try:
            return tuple(np.load(folder / f"{n}.npy", allow_pickle=False) for n in names), True
        except (OSError, ValueError):
            pass   # a damaged entry is recomputed and overwritten
    arrays = compute()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        for n, a in zip(names, arrays):
            _atomic_save(folder / f"{n}.npy", np.asarray(a))
    return arrays, False


# -- ground truth -------------------------------------------------------------------------------------
def exact_neighbours(base: np.ndarray, queries: np.ndarray, metric: str, depth: int):
    """Exact top-`depth` (ids, float64 distances, smaller is closer): faiss flat search, then the
    candidates' distances recomputed in float64 and re-sorted (stable). l2: squared L2; ip: -<q, x>."""
    from adapters.indexes.exact import ExactIndex
    ids, _ = ExactIndex(metric=index_metric(metric)).build(base).search(queries, depth)
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
                        "queries_with_ties_at_k": ties_at_k(dists, k), "method": "faiss flat + float64 refine"}


def pointwise_lid(base, k: int, metric: str, cache_dir: Path | None = None):
    """(per-row Amsaleg LID, info), cached per (vectors, k, metric)."""
    from .metrics.knn import pointwise_lid as lid_fn
    lid_metric = "cosine" if metric == "cosine" else "l2"
    key = "lid-" + array_digest("lid-amsaleg-v1", lid_metric, k, base)[:32]
    t0 = time.perf_counter()
    (lid,), hit = cached_arrays(cache_dir, key, ("lid",), lambda: (lid_fn(base, k, form="amsaleg", metric=lid_metric),))
    finite = lid[np.isfinite(lid)]
    return lid, {"k": k, "form": "amsaleg", "distance": "euclidean" if lid_metric == "l2" else "euclidean on unit "
                 "vectors", "mean": float(finite.mean()), "sd": float(finite.std()),
                 "median": float(np.median(finite)), "cache_hit": hit, "seconds": time.perf_counter() - t0}


# -- orders -------------------------------------------------------------------------------------------
def random_order(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n)


def sort_order(values, descending: bool = False) -> np.ndarray:
    """Stable argsort: ties keep their row order (methods.md §1.2)."""
    v = np.asarray(values)
    return np.argsort(-v if descending else v, kind="stable")


def category_order(labels, how: str = "sorted") -> np.ndarray:
    """Rows grouped by label: labels in sorted order, or in the order they first appear."""
    labels = np.asarray(labels)
    if how == "sorted":
        return np.argsort(labels, kind="stable")
    if how == "first_seen":
        _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        return np.argsort(rank[inv.ravel()], kind="stable")
    raise HarnessError(f"category_order must be 'sorted' or 'first_seen', got {how!r}")


def kmeans_labels(base: np.ndarray, clusters: int, seed: int, niter: int = 20) -> np.ndarray:
    """k-means cluster per row: faiss Kmeans (seeded, one OpenMP thread so the result is reproducible;
    trains on at most 256 points per centroid, faiss's default sample), then each row's nearest centroid.
    scikit-learn's full Lloyd iterations took ~25x longer on 50,000 x 128."""
    import faiss

    from adapters.indexes.faiss_hnsw import omp_threads
    with omp_threads(1):
        km = faiss.Kmeans(int(base.shape[1]), int(clusters), niter=int(niter), seed=int(seed))
        km.train(np.ascontiguousarray(base, dtype=np.float32))
        _, labels = km.index.search(np.ascontiguousarray(base, dtype=np.float32), 1)
    return labels[:, 0].astype(np.int64)


def expand_orders(orders, has_labels: bool) -> list[str]:
    if orders == "all":
        return [o for o in ORDER_KINDS if o != "by_category" or has_labels]
    if isinstance(orders, str) or not isinstance(orders, (list, tuple)):
        raise HarnessError(f'orders must be "all" or a list of {", ".join(ORDER_KINDS)}; got {orders!r}')
    bad = [o for o in orders if o not in ORDER_KINDS]
    if bad:
        raise HarnessError(f"unknown order(s) {bad}; valid: {', '.join(ORDER_KINDS)}")
    if "by_category" in orders and not has_labels:
        raise HarnessError("order by_category needs labels, and this vector source has none (gmm, or npy with "
                           "a labels file, have them; use 'clustered' for a k-means grouping)")
    return list(dict.fromkeys(orders))


# -- building and searching -----------------------------------------------------------------------------
def make_index(library: str, metric: str, build: dict, *, hnsw_seed: int = 100, faiss_chunk: int | None = None):
    from adapters.indexes.faiss_hnsw import FaissHNSWIndex
    from adapters.indexes.hnswlib_index import HnswlibIndex
    params = {"metric": index_metric(metric), "M": int(build["M"]), "ef_construction": int(build["ef_construction"])}
    if library == "hnswlib":
        return HnswlibIndex(**params, random_seed=int(hnsw_seed), num_threads=1)
    if library == "faiss":
        return FaissHNSWIndex(**params, add_chunk_size=faiss_chunk, omp_threads=1)
    raise HarnessError(f"unknown library {library!r}; valid: {', '.join(LIBRARIES)}")


def search_params(library: str, ef: int) -> dict:
    return {"ef": int(ef), "num_threads": 1} if library == "hnswlib" else {"ef": int(ef), "omp_threads": 1}


def angular_or_euclidean(base, queries, ids, metric: str) -> np.ndarray | None:
    """Non-negative float64 distances of `ids` for the overall ratio (§6.2): Euclidean for l2,
    1 - cos for cosine; None for raw inner product (no distance to take a ratio of)."""
    if metric == "ip":
        return None
    out = np.full(ids.shape, np.inf)
    ok = ids >= 0
    q = queries.astype(np.float64)
    for s in range(0, len(ids), 1024):
        cand = base[np.where(ok[s:s + 1024], ids[s:s + 1024], 0)].astype(np.float64)
        qq = q[s:s + 1024, None, :]
        d = np.sqrt(((cand - qq) ** 2).sum(axis=2)) if metric == "l2" else np.maximum(0.0, 1 - (cand * qq).sum(axis=2))
        out[s:s + 1024] = np.where(ok[s:s + 1024], d, np.inf)
    return out


def build_label(build: dict) -> str:
    return f"M{int(build['M'])}_efC{int(build['ef_construction'])}"


def sweep(base, queries, gt_ids, gt_dists, *, metric: str, k: int, orders: dict[str, np.ndarray],
          libraries, builds, efs, hnsw_seed: int = 100, faiss_chunk: int | None = None, progress: bool = True):
    """Build each (library, build, order) once; search every ef. Returns (records, build_records,
    per_query_tie (rows x nq), per_query_id)."""
    from harness.progress import progress_bar
    true_d = angular_or_euclidean(base, queries, gt_ids[:, :k], metric)
    records, build_records, pq_tie, pq_id = [], [], [], []
    total = len(libraries) * len(builds) * len(orders)
    with progress_bar(total=total, desc="HNSW builds", unit="build", disable=not progress) as bar:
        for library in libraries:
            for build in builds:
                for name, perm in orders.items():
                    index = make_index(library, metric, build, hnsw_seed=hnsw_seed, faiss_chunk=faiss_chunk)
                    index.build(base, order=perm)
                    st = index.stats()
                    build_records.append({"library": library, "build": build_label(build), "order": name,
                                          "build_s": float(st["build_s"]), "size_bytes": int(st["size_bytes"]),
                                          "threads": int(st.get("threads", 1)),
                                          "add_chunk_size": st.get("add_chunk_size")})
                    for ef in efs:
                        t0 = time.perf_counter()
                        ids, _ = index.search(queries, k, **search_params(library, ef))
                        search_s = time.perf_counter() - t0
                        rid, rtie = recall_at_k(gt_ids, gt_dists, ids, k)
                        rec = {"library": library, "build": build_label(build), "order": name, "ef": int(ef),
                               "recall_tie": float(rtie.mean()), "recall_id": float(rid.mean()),
                               "recall_tie_std": float(rtie.std()), "search_s": search_s,
                               "qps": len(queries) / search_s if search_s > 0 else None,
                               "sidecar_row": len(pq_tie)}
                        if true_d is not None:
                            ratio, rel_sum, n_inf = overall_ratio(true_d, angular_or_euclidean(base, queries, ids,
                                                                                                 metric), k)
                            rec.update({"overall_ratio": ratio if math.isfinite(ratio) else None,
                                        "rel_sum": rel_sum if math.isfinite(rel_sum) else None,
                                        "ratio_infinite_pairs": n_inf})
                        records.append(rec)
                        pq_tie.append(rtie.astype(np.float32))
                        pq_id.append(rid.astype(np.float32))
                    del index
                    bar.update(1)
    return records, build_records, np.stack(pq_tie), np.stack(pq_id)


def effect_table(records: list[dict], key: str = "recall_tie") -> list[dict]:
    """Order effects per (library, build, ef) against that group's random orders (methods.md §1.2 step 6)."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["library"], r["build"], r["ef"]), []).append(r)
    rows = []
    for (library, build, ef), recs in groups.items():
        rand = [r[key] for r in recs if r["order"].startswith("random:")]
        others = {r["order"]: r[key] for r in recs if not r["order"].startswith("random:")}
        if not rand:
            continue
        eff = order_effects(rand, others)
        for order, e in eff["effects"].items():
            rows.append({"library": library, "build": build, "ef": ef, "order": order, "recall": e["recall"],
                         "effect_pp": e["effect_pp"], "random_mean": eff["random_mean"],
                         "random_std_pp": eff["random_std_pp"], "n_random": eff["n_random"], "flagged": e["flagged"]})
    return rows


# -- the task -----------------------------------------------------------------------------------------
class HNSWInsertionOrder(Task):
    type = "hnsw-order"
    version = 1
    main_score = "recall_random_mean"
    title = "HNSW insertion order"
    score_rules = (ScoreRule("*overall_ratio*", LOWER, 0.001),   # ANN distance ratio (>= 1, 1 = exact)
                   ScoreRule("*rel_sum*", LOWER, 0.001),
                   ScoreRule("*_pp*", DESCRIPTIVE, 1.0),           # order effects, in percentage points
                   ScoreRule("*std*", DESCRIPTIVE, 0.02),          # spread of the random-order baseline
                   ScoreRule("*recall*", HIGHER, 0.02),            # methods.md §1.4: +-0.02 across CPUs (SIMD)
                   ScoreRule("*", DESCRIPTIVE, 0.02))
    plots = ("tasks.plots.hnsw:plot_recall_vs_ef", "tasks.plots.hnsw:plot_order_effects")
    split = "test"

    def __init__(self, name: str = "HNSWInsertionOrder", **params):
        self.name = name
        super().__init__(**params)
        self.source = None
        self.given_perm: np.ndarray | None = None

    def default_params(self) -> dict[str, Any]:
        return {"source": {"kind": "npy", "path": None}, "metric": "l2", "k": 10, "builds": [dict(PAPER_BUILD)],
                "ef": [10, 20, 40, 80], "main_ef": PAPER_EF, "orders": "all", "random_seeds": [0, 1, 2, 3, 4],
                "lid_k": 20, "category_order": "sorted", "clusters": None, "cluster_seed": 42,
                "libraries": list(LIBRARIES), "hnsw_seed": 100, "faiss_chunk": None, "given_order": None,
                "main_library": "hnswlib"}

    def load(self, data_root: Path | None) -> DatasetRecord:
        from .vector_sources import open_source
        self._validate_params()
        self.source = open_source(self.params["source"], data_root)
        rec = self.source.record
        if self.params["given_order"]:
            p = Path(self.params["given_order"]).expanduser()
            rec.add(p, p.parent)
            self.given_perm = np.load(p, allow_pickle=False)
        self.dataset = rec
        return rec

    def _validate_params(self) -> None:
        p = self.params
        libs = list(p["libraries"])
        if not libs or any(lib not in LIBRARIES for lib in libs):
            raise HarnessError(f"libraries must be a non-empty list of {', '.join(LIBRARIES)}, got {libs}")
        seeds = list(p["random_seeds"])
        if len(seeds) < 5 or len(set(seeds)) != len(seeds):
            raise HarnessError(f"random_seeds: give at least 5 distinct seeds for the random baseline "
                               f"(methods.md §1.2 step 6), got {seeds}")
        if not p["builds"] or not all(isinstance(b, dict) and int(b.get("M", 0)) >= 2
                                      and int(b.get("ef_construction", 0)) >= 1 for b in p["builds"]):
            raise HarnessError(f"builds must be a list of {{'M': >=2, 'ef_construction': >=1}}, got {p['builds']}")
        if p["main_library"] not in libs:
            raise HarnessError(f"main_library {p['main_library']!r} is not among libraries {libs}")
        if int(p["lid_k"]) < 3:
            raise HarnessError(f"lid_k must be >= 3, got {p['lid_k']}")

    def evaluate(self, model, index=None) -> TaskOutput:
        if self.source is None:
            raise HarnessError(f"task {self.name}: evaluate() before load()")
        p = self.params
        timings: dict[str, float] = {}
        cache_dir = default_cache_dir()
        t0 = time.perf_counter()
        src = self.source.vectors(model)
        notes = list(src.notes)
        base, queries = prepare_vectors(src.base, src.queries, p["metric"], notes)
        timings["vectors"] = time.perf_counter() - t0
        n, k = len(base), int(p["k"])
        efs = sorted({int(e) for e in p["ef"]})
        check_setup(n, k, efs, p["metric"])
        builds = [dict(b) for b in p["builds"]]
        libraries = list(p["libraries"])
        kinds = expand_orders(p["orders"], src.labels is not None)

        gt_ids, gt_d, gt_info = ground_truth(base, queries, p["metric"], k, cache_dir)
        timings["ground_truth"] = gt_info["seconds"]
        orders, order_info, lid, lid_info = self._orders(kinds, base, src, notes, cache_dir, timings)
        faiss_chunk = int(p["faiss_chunk"]) if p["faiss_chunk"] else max(1, n // 100)

        t0 = time.perf_counter()
        records, build_records, pq_tie, pq_id = sweep(
            base, queries, gt_ids, gt_d, metric=p["metric"], k=k, orders=orders, libraries=libraries, builds=builds,
            efs=efs, hnsw_seed=int(p["hnsw_seed"]), faiss_chunk=faiss_chunk,
            progress=bool(getattr(model, "progress", True)))   # CachedModel carries run.py's --no-progress
        timings["builds_and_searches"] = time.perf_counter() - t0
        effects = effect_table(records)
        main_ef = int(p["main_ef"]) if int(p["main_ef"]) in efs else max(efs)
        if main_ef != int(p["main_ef"]):
            notes.append(f"main_ef {p['main_ef']} is not in the ef list; main scores use ef={main_ef}")
        scores = self._scores(records, effects, libraries, builds, main_ef)
        details = {
            "source": {"name": src.name, **src.info}, "metric": p["metric"], "k": k, "n": n, "n_queries": len(queries),
            "dim": int(base.shape[1]), "main_ef": main_ef, "main_build": build_label(builds[0]),
            "orders": order_info, "lid": lid_info, "ground_truth": gt_info,
            "hnswlib": {"insert_threads": 1, "search_threads": 1, "random_seed": int(p["hnsw_seed"])},
            "faiss": {"add_chunk_size": faiss_chunk, "omp_threads": 1,
                      "note": "faiss reorders inside one add() (level buckets, seeded shuffle): orders are imposed by "
                              "consecutive add() chunks of add_chunk_size rows"},
            "recall_rule": "recall_tie: ids within rel 1e-6 of the k-th exact distance count (methods.md §6.1)",
            "qps_note": "one timed batch search per (index, ef), 1 thread; not a best-of-R benchmark",
            "effect_rule": "effect_pp = recall(order) - mean(random seeds), in pp; flagged iff |effect| > 2 x "
                           "random std (ddof=1)",
            "sweep": records, "builds": build_records, "effects": effects, "notes": notes, "timings_s": timings,
            "sidecar_rows": "per_query_recall_tie / per_query_recall_id row i = sweep record with sidecar_row i",
        }
        sidecars = {"per_query_recall_tie": pq_tie, "per_query_recall_id": pq_id}
        if lid is not None:
            sidecars["lid"] = lid.astype(np.float32)
        return TaskOutput(scores=scores, details=details, sidecars=sidecars)

    def _orders(self, kinds, base, src, notes, cache_dir, timings):
        p = self.params
        n = len(base)
        orders: dict[str, np.ndarray] = {}
        info: dict[str, dict] = {}
        lid = lid_info = None
        if "lid_desc" in kinds or "lid_asc" in kinds:
            lid_k = int(p["lid_k"])
            if lid_k >= n:
                raise HarnessError(f"lid_k={lid_k} needs more than {lid_k} base vectors, got {n}")
            lid, lid_info = pointwise_lid(base, lid_k, p["metric"], cache_dir)
            timings["lid"] = lid_info["seconds"]
        for kind in kinds:
            if kind == "random":
                for s in p["random_seeds"]:
                    orders[f"random:{int(s)}"] = random_order(n, int(s))
                    info[f"random:{int(s)}"] = {"kind": "random", "seed": int(s),
                                                "rule": "np.random.default_rng(seed).permutation(n)"}
            elif kind in ("lid_desc", "lid_asc"):
                orders[kind] = sort_order(lid, descending=kind == "lid_desc")
                info[kind] = {"kind": kind, "lid_k": lid_info["k"], "lid_form": "amsaleg", "sort": "stable"}
            elif kind == "by_category":
                orders[kind] = category_order(src.labels, p["category_order"])
                info[kind] = {"kind": kind, "category_order": p["category_order"],
                              "n_categories": int(len(np.unique(src.labels)))}
            elif kind == "clustered":
                c = int(p["clusters"]) if p["clusters"] else max(2, min(50, n // 100))
                if not 2 <= c <= n:
                    raise HarnessError(f"clusters must be in 2..n ({n}), got {c}")
                t0 = time.perf_counter()
                labels = kmeans_labels(base, c, int(p["cluster_seed"]))
                timings["kmeans"] = time.perf_counter() - t0
                orders[kind] = category_order(labels, "sorted")
                info[kind] = {"kind": kind, "clusters": c, "seed": int(p["cluster_seed"]),
                              "method": "faiss Kmeans(niter=20, 1 thread), rows stable-sorted by cluster id"}
            elif kind == "given":
                if self.given_perm is not None:
                    from adapters.indexes.base import check_order
                    try:
                        orders[kind] = check_order(self.given_perm, n)
                    except HarnessError as e:
                        raise DataError(str(e), p["given_order"]) from None
                    info[kind] = {"kind": kind, "file": str(p["given_order"])}
                else:
                    orders[kind] = np.arange(n, dtype=np.int64)
                    info[kind] = {"kind": kind, "rule": "the source's row order"}
        return orders, info, lid, lid_info

    def _scores(self, records, effects, libraries, builds, main_ef) -> dict:
        p = self.params
        main_build = build_label(builds[0])
        scores: dict[str, float] = {}
        for library in libraries:
            rand = [r["recall_tie"] for r in records if r["library"] == library and r["build"] == main_build
                    and r["ef"] == main_ef and r["order"].startswith("random:")]
            if rand:
                scores[f"{library}_recall_random_mean"] = float(np.mean(rand))
                scores[f"{library}_recall_random_std"] = float(np.std(rand, ddof=1)) if len(rand) > 1 else math.nan
            mine = [e for e in effects if e["library"] == library]
            for e in mine:
                if e["build"] == main_build and e["ef"] == main_ef:
                    scores[f"{library}_{e['order']}_effect_pp"] = e["effect_pp"]
            if mine:
                scores[f"{library}_max_abs_effect_pp"] = max(abs(e["effect_pp"]) for e in mine)
                flagged = [abs(e["effect_pp"]) for e in mine if e["flagged"]]
                scores[f"{library}_max_flagged_effect_pp"] = max(flagged) if flagged else 0.0
                scores[f"{library}_n_flagged"] = float(len(flagged))
        lib = p["main_library"]
        scores["recall_random_mean"] = scores.get(f"{lib}_recall_random_mean", math.nan)
        scores["recall_random_std"] = scores.get(f"{lib}_recall_random_std", math.nan)
        if effects:
            scores["max_abs_effect_pp"] = max(abs(e["effect_pp"]) for e in effects)
        return dict(sorted(scores.items()))


# -- registry factories ---------------------------------------------------------------------------------
def hnsw_insertion_order(**params) -> HNSWInsertionOrder:
    """Generic: give the source by --task-params, e.g. {"source": {"kind": "npy", "path": "/x.npy"}}."""
    return HNSWInsertionOrder("HNSWInsertionOrder", **params)


def synthetic(**params) -> HNSWInsertionOrder:
    """Small and fast (CI): Gram-Schmidt data, intrinsic dim 24 in R^64, every order, both libraries."""
    defaults = {"source": {"kind": "gram_schmidt", "n": 2000, "nq": 200, "dim": 64, "intrinsic_dim": 24, "seed": 0},
                "metric": "l2", "builds": [{"M": 16, "ef_construction": 64}], "ef": [10, 20, 40], "lid_k": 20,
                "clusters": 20}
    return HNSWInsertionOrder("HNSWInsertionOrder-Synthetic", **{**defaults, **params})


def gmm(**params) -> HNSWInsertionOrder:
    """methods.md §1.4 B: 50-centre GMM in R^128, n=50,000, nq=1,000; efC 128 and 64, LID k=20."""
    defaults = {"source": {"kind": "gmm", "n": 50000, "nq": 1000, "centers": 50, "dim": 128, "spread": 0.6, "seed": 1},
                "metric": "l2", "builds": [{"M": 16, "ef_construction": 128}, {"M": 16, "ef_construction": 64}],
                "ef": [10, 20, 40, 80], "lid_k": 20, "clusters": 50}
    return HNSWInsertionOrder("HNSWInsertionOrder-GMM", **{**defaults, **params})


def intrinsic_dim(**params) -> HNSWInsertionOrder:
    """methods.md §1.4 A setting at intrinsic dim 64 (20,000 x 256): recall falls with intrinsic dimension."""
    defaults = {"source": {"kind": "gram_schmidt", "n": 20000, "nq": 1000, "dim": 256, "intrinsic_dim": 64,
                           "seed": 0}, "metric": "l2", "lid_k": 20}
    return HNSWInsertionOrder("HNSWInsertionOrder-GramSchmidt64", **{**defaults, **params})


def scifact(**params) -> HNSWInsertionOrder:
    """The job's model on the SciFact corpus (5,183 docs), SciFact test queries, cosine, paper parameters,
    LID k=100 (the paper's, as reported secondhand)."""
    defaults = {"source": {"kind": "beir", "dataset": "scifact"}, "metric": "cosine", "lid_k": 100}
    return HNSWInsertionOrder("HNSWInsertionOrder-SciFact", **{**defaults, **params})


def nfcorpus(**params) -> HNSWInsertionOrder:
    defaults = {"source": {"kind": "beir", "dataset": "nfcorpus"}, "metric": "cosine", "lid_k": 100}
    return HNSWInsertionOrder("HNSWInsertionOrder-NFCorpus", **{**defaults, **params})


def w2v(**params) -> HNSWInsertionOrder:
    """word2vec GoogleNews WEFE subset (13,013 x 300): 1,000 held-out words as queries, cosine."""
    defaults = {"source": {"kind": "word_vectors", "folder": "w2v_googlenews_wefe_subset", "nq": 1000, "seed": 0},
                "metric": "cosine", "lid_k": 20}
    return HNSWInsertionOrder("HNSWInsertionOrder-W2V", **{**defaults, **params})
