"""ANN index sweep (ann-benchmarks style, methods.md §6): task type `ann-sweep`, one job per index build point.

The runner hands `evaluate(model, index, query_points=[{"ef": 10}, {"ef": 20}, ...])` an *unbuilt*
index (`harness.registry.make_index(name, **build_point)`); the task builds it once on the data set and
searches every query point on that build, measuring at each point:

- `recall_tie@k` (main figure) and `recall_id@k` against exact ground truth (tasks/metrics/ann.py, the
  tie rule of methods.md §6.1). The ground truth comes from tasks/neighbours.py: computed once per
  (vectors, queries, metric, depth) and cached on disk, so every other build point and index of the
  data set reuses it (`details.ground_truth.cached`);
- `ndcg@k` against the qrels (retrieval corpora only): pytrec_eval through tasks/metrics/ir.py, the
  run scored like the retrieval task's (score = -distance), so with the exact index it is the
  retrieval task's nDCG@10 (tested);
- QPS on one thread with all queries in one batch, best of `repeats` timed calls after a warm-up
  (median too); latency p50 / p95 / p99 one query per call over the first `latency_queries`
  queries; optionally QPS at N threads (`qps_threads`); tasks/ann_measure.py says how threads are
  pinned;
- of the build: seconds, index size in bytes (`index.stats()`), peak memory (RSS-based, see
  tasks/ann_measure.py) and the build threads (`index.stats()["threads"]`).

Data (`source`, tasks/vector_sources.py): a retrieval corpus encoded by the job's model (`beir`:
documents are the base, test queries with qrels the queries; metric `model` = the model's similarity
decides, as in the retrieval task: cosine -> unit rows searched by inner product), a `.npy`
(`ann:<file.npy>`, held-out queries unless a queries file is given), word vectors from the data root
(held-out queries), or seeded synthetic low-rank data (`gram_schmidt`: queries from the same
distribution). Plain sets take `metric` (l2 / ip / cosine) as a parameter.

Result (one per model x task x build point; the format of the issue-14 brief): scores `recall@k`
(the best `recall_tie@k` over the query points), `qps_at_best_recall`, `ndcg@k` (at that point;
retrieval only), `build_s`, `index_size_bytes`, `build_peak_memory_bytes`; `details.points` holds one
row per query point. The task never imports an index library: the index comes in as an argument.

Default grid (no `--indexes`): tasks/data/ann_grid.json, every index on a small grid sized so the `ann`
suite runs in well under 20 minutes on 2 cores: HNSW-type indexes (hnswlib, faiss-hnsw, faiss-hnsw-sq8,
usearch f32/f16/i8, lancedb-hnsw-sq) at M=16, ef_construction=100, ef 10..160; IVF at 64 lists (at least
39 training points per list on NFCorpus' 3,633 documents), nprobe 1..32; faiss IVF-PQ with and without
exact re-ranking; LanceDB IVF-PQ at 64 partitions (sample_rate 32, so LanceDB trains them all on the small
corpora) and 12 sub-vectors (a divisor of 384, 300 and 96; LanceDB's own rule falls to 1 sub-vector for
300 dimensions), with and without its refine step. Points an adapter refuses for the data set's metric
are left out of that task's default grid (usearch i8 keeps only directions: not for l2).

Run:
    python run.py run --suite ann                               # SciFact, NFCorpus (MiniLM), w2v 13k,
                                                                #   synthetic 100k; every index, small grid
    python run.py run --tasks ANN-SciFact --indexes "exact,hnswlib(M=16,32)[ef=10,20,40,80]"
    python run.py run --tasks ann:/data/x.npy --index-config grid.yaml \
        --task-params '{"ann:/data/x.npy": {"metric": "cosine", "qps_threads": [2]}}'
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.data import DatasetRecord
from harness.errors import HarnessError

from . import params as check
from .base import DESCRIPTIVE, HIGHER, ScoreRule, Task, TaskOutput

GRID_PATH = Path(__file__).resolve().parent / "data" / "ann_grid.json"
SOURCE_KINDS = {"beir": "beir", "npy": "npy", "word_vectors": "words", "gram_schmidt": "synthetic",
                "gmm": "synthetic"}   # vector source kind -> data set kind in the result
METRICS = ("model", "l2", "ip", "cosine")


class ANNSweepTask(Task):
    type = "ann-sweep"
    title = "ANN index sweep"
    version = 1
    main_score = "recall@10"
    ranked = False
    sweeps_index = True
    index_k = 10
    score_rules = (ScoreRule("recall*", HIGHER, 0.02),    # HNSW recall moves ~0.02 across CPUs (methods.md §1.4)
                   ScoreRule("ndcg*", HIGHER, 0.01),
                   ScoreRule("*", DESCRIPTIVE, None))       # anything else describes the machine or the build
    plots = ("tasks.plots.ann:plot_recall_vs_qps", "tasks.plots.ann:plot_ndcg_vs_qps")
    tables = ("tasks.plots.ann:table_pareto_points",)

    def __init__(self, name: str, **params):
        self.name = name
        super().__init__(**params)
        self.source = None

    def default_params(self) -> dict[str, Any]:
        return {"source": {"kind": "npy", "path": None}, "metric": "l2", "k": 10, "n_queries": None,
                "repeats": 3, "latency_queries": 100, "qps_threads": []}

    def set_params(self, **params) -> "ANNSweepTask":
        super().set_params(**params)
        k = self.params.get("k")
        if isinstance(k, int) and not isinstance(k, bool) and k >= 1:   # checked fully in check_params
            self.index_k, self.main_score = k, f"recall@{k}"
        return self

    def default_indexes(self) -> list:
        """The small grid of every index (tasks/data/ann_grid.json: config dicts {"name", "build", "query"}),
        less the build points an adapter refuses for this data set's metric (usearch i8 under l2)."""
        grid = json.loads(GRID_PATH.read_text(encoding="utf-8"))
        entries = grid["indexes"] if isinstance(grid, dict) else grid
        metric = self.params["metric"]
        if metric == "model":   # decided by the model at evaluate: cosine or ip for every packaged model
            return entries
        from .neighbours import index_metric
        return _for_metric(entries, index_metric(metric), self.index_k)

    def check_params(self) -> None:
        """Every parameter value, before any data is read."""
        p = self.params
        kind = p["source"].get("kind") if isinstance(p["source"], dict) else None
        if kind not in SOURCE_KINDS:
            raise HarnessError(f"task {self.name}: parameter 'source' needs a kind in {', '.join(SOURCE_KINDS)}, "
                               f"got {p['source']!r}")
        check.choice(self, "metric", METRICS)
        if p["metric"] == "model" and kind != "beir":
            raise HarnessError(f"task {self.name}: metric 'model' (the model's similarity) is for model-encoded "
                               f"(beir) sources; give l2, ip or cosine for a {kind} source")
        check.integer(self, "k")
        check.integer(self, "n_queries", optional=True)
        check.integer(self, "repeats")
        check.integer(self, "latency_queries", optional=True)
        if p["qps_threads"]:
            check.int_list(self, "qps_threads")
        elif p["qps_threads"] is None or not isinstance(p["qps_threads"], list):
            raise HarnessError(f"task {self.name}: parameter 'qps_threads' = {p['qps_threads']!r} is not valid; "
                               "valid: a list of thread counts >= 1 (may be empty)")

    def load(self, data_root: Path | None) -> DatasetRecord:
        from .vector_sources import open_source
        self.check_params()
        self.source = open_source(self.params["source"], data_root)
        self.dataset = self.source.record
        return self.dataset

    # -- evaluation -------------------------------------------------------------------------------
    def evaluate(self, model, index=None, query_points=None) -> TaskOutput:
        from harness.progress import progress_bar
        from harness.registry import make_index

        from .neighbours import default_cache_dir, ground_truth, index_metric
        if self.source is None:
            raise HarnessError(f"task {self.name}: evaluate() before load()")
        self.check_params()
        p = self.params
        index = index if index is not None else make_index("exact")
        points = [dict(q) for q in (query_points or [{}])]
        timings: dict[str, float] = {}

        t0 = time.perf_counter()
        src, base, queries, metric, notes = self._vectors(model)
        timings["vectors"] = time.perf_counter() - t0
        k = int(p["k"])
        if k > len(base):
            raise HarnessError(f"task {self.name}: k={k} is larger than the number of base vectors ({len(base)})")
        index.check(query_points=points, dim=int(base.shape[1]), k=k)   # nothing is built on a bad point

        given = index.build_params.get("metric")
        if given not in (index.BUILD_DEFAULTS.get("metric"), index_metric(metric)):
            notes.append(f"index metric {given!r} from the grid replaced by {index_metric(metric)!r}: the data set's "
                         f"metric ({metric}) decides")
        gt_ids, gt_d, gt_info = ground_truth(base, queries, metric, k, default_cache_dir())
        timings["ground_truth"] = gt_info["seconds"]
        build = _measure_build(index, base, index_metric(metric))
        timings["build"] = build["seconds"]

        t0 = time.perf_counter()
        rows, per_query = [], []
        with progress_bar(total=len(points), desc=f"{index.name} query points", unit="point",
                          disable=not getattr(model, "progress", True)) as bar:
            for point in points:
                row, rtie = self._point(index, point, queries, k, gt_ids, gt_d, src.relevance)
                rows.append(row)
                per_query.append(rtie.astype(np.float32))
                bar.update(1)
        timings["points"] = time.perf_counter() - t0

        details = {
            "dataset": self._dataset(src, base, queries, metric),
            "index": _index_details(index),
            "build": {key: build[key] for key in ("seconds", "peak_memory_bytes", "size_bytes", "threads")},
            "ground_truth": {"k": k, "seconds": gt_info["seconds"], "cached": bool(gt_info["cache_hit"]),
                             "depth": gt_info["depth"], "cache_key": gt_info["cache_key"],
                             "queries_with_ties_at_k": gt_info["queries_with_ties_at_k"]},
            "points": rows,
            "source": {"name": src.name, **src.info},
            "index_metric": index_metric(metric),
            "measurement": {
                "qps": "one search call with all queries, best of `repeats` timed calls after 1 warm-up, on 1 "
                       "thread (threads_control says how: the adapter's thread parameter, OpenMP/BLAS pools "
                       "pinned); qps_median beside it; qps_threads[N] is null where the index cannot change its "
                       "search threads (fixed at build or by the query point)",
                "latency_ms": "one query per search call (adapter checks included), first latency_queries "
                              "queries, after 1 warm-up; numpy linear percentiles",
                "peak_memory": build["peak_memory_method"],
                "recall": "recall_tie: ids within rel 1e-6 of the k-th exact distance count (methods.md §6.1); "
                          "from the warm-up call's result, outside every timed region"},
            "notes": notes, "timings_s": timings,
            "sidecar_rows": "per_query_recall_tie row i = details.points[i]",
        }
        return TaskOutput(scores=self._scores(rows, build, k), details=details,
                          sidecars={"per_query_recall_tie": np.stack(per_query)})

    def _vectors(self, model):
        """(source, base, queries, metric, notes): checked float32 rows (unit rows under cosine), queries
        capped at n_queries."""
        from .hnsw_order import prepare_vectors
        src = self.source.vectors(model)
        metric = self.params["metric"]
        if metric == "model":
            from .retrieval import index_metric_for
            index_metric, normalize = index_metric_for(model.meta)
            metric = "cosine" if normalize else index_metric
        notes = list(src.notes)
        base, queries = prepare_vectors(src.base, src.queries, metric, notes)
        nq = self.params["n_queries"]
        if nq is not None:
            if nq > len(queries):
                raise HarnessError(f"task {self.name}: parameter 'n_queries' = {nq} exceeds the {len(queries)} "
                                   f"queries of {src.name}; valid: 1..{len(queries)} or null (all)")
            queries = queries[:nq]
            notes.append(f"first {nq} of {len(src.queries)} queries used (n_queries)")
        return src, base, queries, metric, notes

    def _point(self, index, point: dict, queries, k: int, gt_ids, gt_d, relevance) -> tuple[dict, np.ndarray]:
        """Measure one query point on the built index; returns its row and per-query recall_tie."""
        from .ann_measure import batch_qps, latencies, pinned_pools, search_threads
        from .metrics.ann import recall_at_k
        p = self.params
        params, threads, control = search_threads(index, point, 1)

        def search(q):
            return index.search(q, k, **params)
        with pinned_pools(threads):
            (ids, dists), qps = batch_qps(search, queries, int(p["repeats"]))
            lat = latencies(search, queries, p["latency_queries"])
        rid, rtie = recall_at_k(gt_ids, gt_d, ids, k)
        row = {"query": dict(point), f"recall_tie@{k}": float(rtie.mean()), f"recall_id@{k}": float(rid.mean())}
        if relevance is not None:
            row[f"ndcg@{k}"] = ndcg_at(relevance, ids, dists, k)
        row.update({"qps": qps["qps"], "qps_median": qps["qps_median"], "latency_ms": lat,
                    "repeats": qps["repeats"], "threads": threads, "threads_control": control})
        if p["qps_threads"]:
            row["qps_threads"] = {}
            for n in p["qps_threads"]:
                params_n, used, _ = search_threads(index, point, int(n))
                if used != int(n):   # threads fixed by the build or the query point: no such measurement
                    row["qps_threads"][str(n)] = None
                    continue
                with pinned_pools(used):
                    _, q_n = batch_qps(lambda q: index.search(q, k, **params_n), queries, int(p["repeats"]))
                row["qps_threads"][str(n)] = q_n["qps"]
        return row, rtie

    def _scores(self, rows: list[dict], build: dict, k: int) -> dict:
        best = max(rows, key=lambda r: (r[f"recall_tie@{k}"], r["qps"] or 0.0))
        scores = {f"recall@{k}": best[f"recall_tie@{k}"], "qps_at_best_recall": best["qps"]}
        if f"ndcg@{k}" in best:
            scores[f"ndcg@{k}"] = best[f"ndcg@{k}"]
        scores.update({"build_s": build["seconds"], "index_size_bytes": build["size_bytes"],
                       "build_peak_memory_bytes": build["peak_memory_bytes"]})
        return scores

    def _dataset(self, src, base, queries, metric: str) -> dict:
        kind = self.params["source"]["kind"]
        info = src.info
        name = {"beir": info.get("dataset"), "word_vectors": info.get("folder"),
                "npy": Path(str(info.get("path", src.name))).name}.get(kind) or src.name
        return {"name": name, "kind": SOURCE_KINDS[kind], "n": int(len(base)), "dim": int(base.shape[1]),
                "n_queries": int(len(queries)), "metric": metric}


def ndcg_at(relevance, ids: np.ndarray, dists: np.ndarray, k: int) -> float:
    """nDCG@k of the returned ids against the qrels, unrounded: the retrieval task's run (score =
    -distance, empty slots dropped) through the same pytrec_eval scoring (tasks/metrics/ir.py)."""
    from .metrics.ir import retrieval_scores, search_run
    run = search_run(relevance.query_ids, relevance.doc_ids, ids, dists)
    return float(retrieval_scores(relevance.qrels, run, [k], rounding=None)[0][f"ndcg_at_{k}"])


def _for_metric(entries: list, metric: str, k: int) -> list:
    """Grid entries whose build points all accept `metric`; where some do not, the short-form keys of the
    others. A point refused under the adapter's default metric too is a mistake in the grid: raised."""
    from harness import index_grid
    from harness.registry import make_index
    out = []
    for entry in entries:
        points = index_grid.expand(index_grid.from_entries([entry], GRID_PATH.name))
        kept = []
        for point in points:
            try:
                make_index(point.name, **point.build, metric=metric).check(query_points=point.query_points, k=k)
                kept.append(point)
            except HarnessError:
                make_index(point.name, **point.build).check(query_points=point.query_points, k=k)
        out += [entry] if len(kept) == len(points) else [p.key for p in kept]
    return out


def _measure_build(index, base, metric: str) -> dict:
    from .ann_measure import measure_build
    return measure_build(index, base, metric=metric)


OPERATIONAL = ("thread", "seed", "chunk", "path", "dir", "train_size", "iterations", "sample_rate")


def _index_details(index) -> dict:
    """name, label, every build parameter, library and whether the build is deterministic (adapter stats).
    The label shows the tunable build parameters (M, nlist, ...; not those left None = automatic) and the
    operational ones (threads, seeds, chunk sizes) only when set away from their default."""
    spec, stats = index.spec(), index.stats()
    defaults = getattr(index, "BUILD_DEFAULTS", {})
    shown = {k: v for k, v in sorted(spec["build"].items()) if k != "metric" and (
        v != defaults.get(k) if any(w in k for w in OPERATIONAL) else v is not None)}
    label = spec["name"] + (f"({';'.join(f'{k}={_fmt(v)}' for k, v in shown.items())})" if shown else "")
    return {"name": spec["name"], "label": label, "build": spec["build"], "exact": spec.get("exact", False),
            "library": stats.get("library"), "deterministic": stats.get("deterministic")}


def _fmt(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


# -- registry factories -----------------------------------------------------------------------------
def scifact(**params) -> ANNSweepTask:
    """The job's model on the SciFact corpus (5,183 documents), the 300 test queries with qrels."""
    defaults = {"source": {"kind": "beir", "dataset": "scifact"}, "metric": "model"}
    return ANNSweepTask("ANN-SciFact", **{**defaults, **params})


def nfcorpus(**params) -> ANNSweepTask:
    """The job's model on the NFCorpus corpus (3,633 documents), the 323 test queries with qrels."""
    defaults = {"source": {"kind": "beir", "dataset": "nfcorpus"}, "metric": "model"}
    return ANNSweepTask("ANN-NFCorpus", **{**defaults, **params})


def w2v(**params) -> ANNSweepTask:
    """word2vec GoogleNews WEFE subset (13,013 x 300): 500 held-out words (seed 0) as queries, cosine."""
    defaults = {"source": {"kind": "word_vectors", "folder": "w2v_googlenews_wefe_subset", "nq": 500, "seed": 0},
                "metric": "cosine"}
    return ANNSweepTask("ANN-W2V", **{**defaults, **params})


def synthetic100k(**params) -> ANNSweepTask:
    """100,000 seeded low-rank points (intrinsic dim 16 in R^96, Gram-Schmidt basis) + 500 queries from the
    same distribution, l2. Dimension and intrinsic dimension are source parameters."""
    defaults = {"source": {"kind": "gram_schmidt", "n": 100_000, "nq": 500, "dim": 96, "intrinsic_dim": 16,
                           "seed": 0}, "metric": "l2"}
    return ANNSweepTask("ANN-Synthetic100k", **{**defaults, **params})


def from_npy(path: str, **params) -> ANNSweepTask:
    """`ann:<file.npy>`: any float matrix; 1,000 rows (seed 0) held out as queries unless the source names a
    `queries` file; metric l2 unless given (--task-params '{"ann:/x.npy": {"metric": "cosine"}}')."""
    defaults = {"source": {"kind": "npy", "path": path, "nq": 1000, "seed": 0}, "metric": "l2"}
    return ANNSweepTask(f"ann:{path}", **{**defaults, **params})
