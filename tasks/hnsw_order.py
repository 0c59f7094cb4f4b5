"""HNSW recall vs insertion order (Elliott & Clark 2024; methods.md §1): task `HNSWInsertionOrder`.

A run is described by a small data spec (task params):

    source        vector source (tasks/vector_sources.py): gram_schmidt | gmm | beir | word_vectors | npy | model
    metric        l2 | ip | cosine (cosine: rows L2-normalised once, then inner product everywhere)
    k             neighbours per query (recall@k)
    builds        the build grid, e.g. [{"M": 16, "ef_construction": 128}], applied to every index
    ef            efSearch values swept on each built index (no rebuild), each >= k
    orders        "all" or a list of: random, lid_desc, lid_asc, by_category, clustered, given
    random_seeds  seeds of the random baseline orders (R >= 5): default_rng(seed).permutation(n)
    indexes       the indexes studied, by registry name or spec (tasks/index_specs.py); default hnswlib
                  (1 insertion thread, seed 100) and faiss-hnsw (consecutive add() chunks of n // 100
                  rows on 1 OpenMP thread, so the order is honoured and the build is reproducible)
    main_index    the index (label) whose random-order recall is the main score

Every index is built through `harness.registry.make_index` with the grid's `M` / `ef_construction`
and the insertion `order`, and searched with `ef` per call, so any registered adapter that takes
those parameters can be studied. Orders: tasks/insertion_orders.py (LID orders sort by pointwise
Amsaleg LID at k = lid_k; `clustered` by scikit-learn k-means).

Work done once (tasks/neighbours.py): exact ground truth per (vectors, queries, metric, depth) from
the registry's exact index, refined in float64 and cached on disk ($HARNESS_GT_CACHE, default
`.cache/ground_truth`), so a second run, or another order, costs no kNN; pointwise LID is cached the
same way. Each (index, build, order) is built once and all ef values are searched on it. Recall is
tie-aware (tasks/metrics/ann.py, methods.md §6.1): `recall_tie` is the main figure, `recall_id` is
kept beside it. The order effect is reported in percentage points against the mean of the random
orders, with their std (ddof=1), and flagged only when |effect| > 2 x std.

Result: main score `recall_random_mean` (recall_tie@k of the random orders, main index / first
build / ef = main_ef); scores give each index's random mean and std (`<label>_recall_random_mean`),
every non-random order's effect at main_ef, the largest |effect| and the largest flagged one over
every build and ef. `details` holds every (index, build, order, ef) record (`library` = the index
label; recall, std, overall ratio, QPS), every build (seconds, bytes, threads, chunk size), each
index's spec, the effect table and the ground-truth / LID cache use. Sidecars:
`per_query_recall_tie` and `per_query_recall_id` (one row per record, `sidecar_row`) and `lid`.

Run:
    python run.py run --suite hnsw-order-ci                     # HNSWInsertionOrder-Synthetic, seconds (CI)
    python run.py run --tasks HNSWInsertionOrder-SciFact        # MiniLM on SciFact, both indexes, all orders
    python run.py run --suite hnsw-order                        # the full sweep (SciFact, NFCorpus, w2v,
                                                                #   GMM = methods.md §1.4 B, Gram-Schmidt k_i=64)
    python run.py run --tasks HNSWInsertionOrder --task-params \
        '{"HNSWInsertionOrder": {"source": {"kind": "npy", "path": "/data/x.npy", "nq": 1000}}}'
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.data import DatasetRecord
from harness.errors import HarnessError
from harness.io import load_npy
from harness.vectors import unit_rows

from . import params as check
from .base import DESCRIPTIVE, HIGHER, LOWER, ScoreRule, Task, TaskOutput
from .index_specs import IndexSpec, default_indexes, parse_indexes
from .insertion_orders import CATEGORY_ORDERS, expand_orders, make_orders
from .metrics.ann import order_effects, overall_ratio, recall_at_k
from .neighbours import default_cache_dir, ground_truth, index_metric, pointwise_lid

METRICS = ("l2", "ip", "cosine")
PAPER_BUILD = {"M": 16, "ef_construction": 128}   # methods.md §1.1: median vector-DB defaults
PAPER_EF = 40


# -- input checks ----------------------------------------------------------------------------------
def check_setup(n: int | None, k: int, efs, metric: str) -> None:
    """metric, k, ef values (each >= k); with `n` (the number of base vectors, known at evaluate) k <= n."""
    if metric not in METRICS:
        raise HarnessError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise HarnessError(f"k must be a positive integer, got {k!r}")
    if n is not None and k > n:
        raise HarnessError(f"k={k} is larger than the number of base vectors ({n})")
    if not efs:
        raise HarnessError("ef: give at least one efSearch value")
    low = [int(ef) for ef in efs if int(ef) < k]
    if low:   # hnswlib would silently raise ef to k, faiss not: refused so indexes compare (methods.md §1.2)
        raise HarnessError(f"ef must be >= k (ef={low[0]}, k={k})")


def prepare_vectors(base, queries, metric: str, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """float32 C-contiguous copies (conversion noted); cosine: rows normalised once (zero row: error)."""
    from .vector_sources import as_vectors
    base = as_vectors(base, "base vectors", notes)
    queries = as_vectors(queries, "queries", notes)
    if base.shape[1] != queries.shape[1]:
        raise HarnessError(f"queries have dim {queries.shape[1]} but base vectors have dim {base.shape[1]}")
    if metric == "cosine":
        return unit_rows(base, "base vectors (cosine)"), unit_rows(queries, "queries (cosine)")
    return base, queries


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
          indexes: list[IndexSpec], builds, efs, progress: bool = True):
    """Build each (index, build, order) once through the registry; search every ef. Returns (records,
    build_records, per_query_tie (rows x nq), per_query_id, index_specs (label -> the built index's spec))."""
    from harness.progress import progress_bar
    true_d = angular_or_euclidean(base, queries, gt_ids[:, :k], metric)
    records, build_records, pq_tie, pq_id, specs = [], [], [], [], {}
    total = len(indexes) * len(builds) * len(orders)
    with progress_bar(total=total, desc="HNSW builds", unit="build", disable=not progress) as bar:
        for spec in indexes:
            for build in builds:
                grid = {"M": int(build["M"]), "ef_construction": int(build["ef_construction"])}
                for name, perm in orders.items():
                    index = spec.make(index_metric(metric), grid).build(base, order=perm)
                    st = index.stats()
                    specs.setdefault(spec.label, {**spec.describe(), "spec": index.spec()})
                    build_records.append({"library": spec.label, "index": spec.name, "build": build_label(build),
                                          "order": name, "build_s": float(st["build_s"]),
                                          "size_bytes": int(st["size_bytes"]), "threads": st.get("threads"),
                                          "add_chunk_size": st.get("add_chunk_size")})
                    for ef in efs:
                        t0 = time.perf_counter()
                        ids, _ = spec.search(index, queries, k, ef)
                        search_s = time.perf_counter() - t0
                        rid, rtie = recall_at_k(gt_ids, gt_dists, ids, k)
                        rec = {"library": spec.label, "build": build_label(build), "order": name, "ef": int(ef),
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
    return records, build_records, np.stack(pq_tie), np.stack(pq_id), specs


def effect_table(records: list[dict], key: str = "recall_tie") -> list[dict]:
    """Order effects per (index label, build, ef) against that group's random orders (methods.md §1.2 step 6)."""
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
    version = 2   # 2: indexes from the registry (`indexes`, `main_index`); clustered order by scikit-learn
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
                "indexes": default_indexes(), "main_index": "hnswlib", "given_order": None}

    def load(self, data_root: Path | None) -> DatasetRecord:
        from .vector_sources import open_source
        self.check_params()
        self.source = open_source(self.params["source"], data_root)
        rec = self.source.record
        if self.params["given_order"]:
            p = Path(self.params["given_order"]).expanduser()
            rec.add(p, p.parent)
            self.given_perm = load_npy(p, "given_order")
        self.dataset = rec
        return rec

    def check_params(self) -> list[IndexSpec]:
        """Every parameter value, before any data is read; returns the index specs."""
        p = self.params
        check.choice(self, "metric", METRICS)
        k = check.integer(self, "k")
        efs = check.int_list(self, "ef")
        check_setup(None, k, efs, p["metric"])
        check.integer(self, "main_ef")
        seeds = check.int_list(self, "random_seeds", 0)
        if len(seeds) < 5 or len(set(seeds)) != len(seeds):
            raise HarnessError(f"task {self.name}: random_seeds: give at least 5 distinct seeds for the random "
                               f"baseline (methods.md §1.2 step 6), got {seeds}")
        if p["orders"] != "all":
            expand_orders(p["orders"], True)
        def whole(v, low):
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low
        if not isinstance(p["builds"], list) or not p["builds"] or not all(
                isinstance(b, dict) and set(b) == {"M", "ef_construction"} and whole(b["M"], 2)
                and whole(b["ef_construction"], 1) for b in p["builds"]):
            raise HarnessError(f"task {self.name}: builds must be a list of {{'M': >=2, 'ef_construction': >=1}}, "
                               f"got {p['builds']}")
        check.integer(self, "lid_k", 3)
        check.choice(self, "category_order", CATEGORY_ORDERS)
        check.integer(self, "clusters", 2, optional=True)
        check.integer(self, "cluster_seed", 0)
        specs = parse_indexes(self.name, p["indexes"], dict(p["builds"][0]))
        if p["main_index"] not in [s.label for s in specs]:
            raise HarnessError(f"task {self.name}: main_index {p['main_index']!r} is not among the indexes "
                               f"{[s.label for s in specs]}")
        return specs

    def evaluate(self, model, index=None) -> TaskOutput:
        if self.source is None:
            raise HarnessError(f"task {self.name}: evaluate() before load()")
        specs = self.check_params()
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
        kinds = expand_orders(p["orders"], src.labels is not None)

        gt_ids, gt_d, gt_info = ground_truth(base, queries, p["metric"], k, cache_dir)
        timings["ground_truth"] = gt_info["seconds"]
        lid = lid_info = None
        if "lid_desc" in kinds or "lid_asc" in kinds:
            if int(p["lid_k"]) >= n:
                raise HarnessError(f"lid_k={p['lid_k']} needs more than {p['lid_k']} base vectors, got {n}")
            lid, lid_info = pointwise_lid(base, int(p["lid_k"]), p["metric"], cache_dir)
            timings["lid"] = lid_info["seconds"]
        orders, order_info = make_orders(kinds, base, p, lid=lid, labels=src.labels, given=self.given_perm,
                                         timings=timings)

        t0 = time.perf_counter()
        records, build_records, pq_tie, pq_id, index_info = sweep(
            base, queries, gt_ids, gt_d, metric=p["metric"], k=k, orders=orders, indexes=specs, builds=builds,
            efs=efs, progress=bool(getattr(model, "progress", True)))   # CachedModel carries run.py's --no-progress
        timings["builds_and_searches"] = time.perf_counter() - t0
        effects = effect_table(records)
        main_ef = int(p["main_ef"]) if int(p["main_ef"]) in efs else max(efs)
        if main_ef != int(p["main_ef"]):
            notes.append(f"main_ef {p['main_ef']} is not in the ef list; main scores use ef={main_ef}")
        scores = self._scores(records, effects, [s.label for s in specs], builds, main_ef)
        details = {
            "source": {"name": src.name, **src.info}, "metric": p["metric"], "k": k, "n": n, "n_queries": len(queries),
            "dim": int(base.shape[1]), "main_ef": main_ef, "main_build": build_label(builds[0]),
            "orders": order_info, "lid": lid_info, "ground_truth": gt_info, "indexes": list(index_info.values()),
            "order_note": "each index is built through the registry with order=<permutation>; faiss-hnsw reorders "
                          "inside one add() (level buckets, seeded shuffle), so its adapter imposes an order by "
                          "consecutive add() chunks (add_chunk_size, in the build records)",
            "recall_rule": "recall_tie: ids within rel 1e-6 of the k-th exact distance count (methods.md §6.1)",
            "qps_note": "one timed batch search per (index, ef), with the index spec's query threads; not a "
                        "best-of-R benchmark",
            "effect_rule": "effect_pp = recall(order) - mean(random seeds), in pp; flagged iff |effect| > 2 x "
                           "random std (ddof=1)",
            "sweep": records, "builds": build_records, "effects": effects, "notes": notes, "timings_s": timings,
            "sidecar_rows": "per_query_recall_tie / per_query_recall_id row i = sweep record with sidecar_row i",
        }
        sidecars = {"per_query_recall_tie": pq_tie, "per_query_recall_id": pq_id}
        if lid is not None:
            sidecars["lid"] = lid.astype(np.float32)
        return TaskOutput(scores=scores, details=details, sidecars=sidecars)

    def _scores(self, records, effects, labels, builds, main_ef) -> dict:
        p = self.params
        main_build = build_label(builds[0])
        scores: dict[str, float] = {}
        for library in labels:
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
        lib = p["main_index"]
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
    """Small and fast (CI): Gram-Schmidt data, intrinsic dim 24 in R^64, every order, both default indexes."""
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
