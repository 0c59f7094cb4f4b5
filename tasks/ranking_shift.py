"""How model rankings shift when retrieval uses HNSW instead of exact search (methods.md §1.2 step 7).

Two halves, because a task sees one model and a ranking needs several:

1. Task type `ranking-shift` (`RankingShift-SciFact`, `RankingShift-NFCorpus`), one job per model:
   encodes the BEIR corpus and test queries as the retrieval task does (same texts, so the shared
   embedding cache answers), searches the top-k exactly (faiss flat) and with HNSW at the paper's
   fixed parameters (M=16, efConstruction=128, efSearch=40; hnswlib with 1 insertion thread in
   corpus order, faiss IndexHNSWFlat with one add() on 1 OpenMP thread), and scores nDCG@10 of
   each with pytrec_eval (tasks/metrics/ir.py). Also stored: recall@10 of each HNSW run against
   exact search on the same embeddings (tie-aware, methods.md §6.1) and the nDCG at other ef values.
2. `ranking_table(results)`: reads those result dicts for all models and, per data set, library and
   ef, ranks the models by exact nDCG@10 and by HNSW nDCG@10, and reports Kendall τ and the largest
   position change (tasks/metrics/ann.py). `python -m tasks.ranking_shift --results DIR` prints it;
   `tasks/plots/hnsw.py:plot_ranking_shift` draws it in the report.

Run: `python run.py run --suite ranking-shift --models all-MiniLM-L6-v2,w2v-googlenews-subset,static-tokenlearn-64`
then `python -m tasks.ranking_shift --results results`.

Zero vectors: a mean-of-words model has no vector for a text with no known word (the w2v subset
misses 129 of 323 NFCorpus queries). Cosine is undefined for them, so such a query retrieves nothing
and scores nDCG 0 (it is counted in `queries_without_vector`, never dropped from the average); a
document without a vector is left out of both indexes (`documents_without_vector`). Exact and HNSW
runs get the same treatment, so the comparison between them is unaffected.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from harness.data import DatasetRecord
from harness.errors import EmbeddingError, HarnessError

from .base import DESCRIPTIVE, HIGHER, ScoreRule, Task, TaskOutput
from .metrics.ann import ranking_shift, recall_at_k

LIBRARIES = ("hnswlib", "faiss")


class RankingShiftTask(Task):
    type = "ranking-shift"
    version = 1
    main_score = "hnswlib_ndcg_at_10"
    title = "Ranking shift (exact vs HNSW)"
    score_rules = (ScoreRule("*recall_tie_at*", HIGHER, 0.02),
                   ScoreRule("*ndcg*", HIGHER, 0.001),
                   ScoreRule("*", DESCRIPTIVE, 0.001))             # Kendall tau, position changes
    plots = ("tasks.plots.hnsw:plot_ranking_shift",)

    def __init__(self, name: str, dataset: str, **params):
        self.name = name
        self.dataset_key = dataset
        super().__init__(**params)
        self.retrieval = None

    def default_params(self):
        return {"M": 16, "ef_construction": 128, "ef": [10, 20, 40], "main_ef": 40, "k": 10,
                "libraries": list(LIBRARIES), "hnsw_seed": 100, "batch_size": None}

    def load(self, data_root: Path | None) -> DatasetRecord:
        from . import retrieval
        factories = {"scifact": retrieval.scifact, "nfcorpus": retrieval.nfcorpus}
        if self.dataset_key not in factories:
            raise HarnessError(f"ranking shift: unknown data set {self.dataset_key!r}; valid: {', '.join(factories)}")
        p = self.params
        if any(lib not in LIBRARIES for lib in p["libraries"]) or not p["libraries"]:
            raise HarnessError(f"libraries must be a non-empty list of {', '.join(LIBRARIES)}, got {p['libraries']}")
        from adapters.indexes.base import check_ef
        for ef in p["ef"]:
            check_ef(int(ef), int(p["k"]))
        if int(p["main_ef"]) not in [int(e) for e in p["ef"]]:
            raise HarnessError(f"main_ef {p['main_ef']} must be one of ef {p['ef']}")
        self.retrieval = factories[self.dataset_key]()
        self.dataset = self.retrieval.load(data_root)
        return self.dataset

    def evaluate(self, model, index=None) -> TaskOutput:
        from adapters.indexes.exact import ExactIndex
        from tasks.retrieval import _metric_for

        if self.retrieval is None:
            raise HarnessError(f"task {self.name}: evaluate() before load()")
        rt, p = self.retrieval, self.params
        k = int(p["k"])
        metric, normalize = _metric_for(model.meta)
        timings = {}
        t0 = time.perf_counter()
        docs = _vectors(model.encode(rt.doc_texts, role="document", batch_size=p["batch_size"]), len(rt.doc_texts),
                        model, "document")
        queries = _vectors(model.encode(rt.query_texts, role="query", batch_size=p["batch_size"]),
                           len(rt.query_texts), model, "query")
        timings["encode"] = time.perf_counter() - t0
        if docs.shape[1] != queries.shape[1]:
            raise EmbeddingError(f"model {model.meta.get('name')!r}: query dim {queries.shape[1]} != document dim "
                                 f"{docs.shape[1]}")
        doc_ok = docs.any(axis=1) if normalize else np.ones(len(docs), bool)
        q_ok = queries.any(axis=1) if normalize else np.ones(len(queries), bool)
        doc_rows = np.flatnonzero(doc_ok)
        if len(doc_rows) < k:
            raise HarnessError(f"{self.name}: only {len(doc_rows)} documents have a vector, fewer than k={k}")
        q_rows = np.flatnonzero(q_ok)
        docs = _unit(docs[doc_rows]) if normalize else np.ascontiguousarray(docs[doc_rows])
        qv = _unit(queries[q_rows]) if normalize else np.ascontiguousarray(queries[q_rows])

        t0 = time.perf_counter()
        gt_ids, gt_d = ExactIndex(metric=metric).build(docs).search(qv, min(len(docs), k + 10))
        timings["exact_search"] = time.perf_counter() - t0
        exact_ndcg, exact_pq = self._ndcg(gt_ids[:, :k], gt_d[:, :k], doc_rows, q_rows)
        scores = {"exact_ndcg_at_10": exact_ndcg}
        runs = []
        for library in p["libraries"]:
            index, build_s, stats = self._build(library, metric, docs)
            for ef in sorted({int(e) for e in p["ef"]}):
                t0 = time.perf_counter()
                params = {"ef": ef, "num_threads": 1} if library == "hnswlib" else {"ef": ef, "omp_threads": 1}
                ids, dist = index.search(qv, k, **params)
                search_s = time.perf_counter() - t0
                ndcg, _ = self._ndcg(ids, dist, doc_rows, q_rows)
                _, rtie = recall_at_k(gt_ids, gt_d, ids, k)
                runs.append({"library": library, "ef": ef, "ndcg_at_10": ndcg, "exact_ndcg_at_10": exact_ndcg,
                             "ndcg_delta": ndcg - exact_ndcg, "recall_tie_at_10": float(rtie.mean()),
                             "search_s": search_s, "build_s": build_s, "size_bytes": stats.get("size_bytes")})
                if ef == int(p["main_ef"]):
                    scores[f"{library}_ndcg_at_10"] = ndcg
                    scores[f"{library}_ndcg_delta"] = ndcg - exact_ndcg
                    scores[f"{library}_recall_tie_at_10"] = float(rtie.mean())
        details = {"dataset": rt.name, "n_documents": len(rt.doc_texts), "n_queries": len(rt.query_texts),
                   "metric": metric, "normalized_by_task": normalize, "k": k, "main_ef": int(p["main_ef"]),
                   "hnsw_build": {"M": int(p["M"]), "ef_construction": int(p["ef_construction"]),
                                  "hnswlib": "corpus order, 1 insertion thread, random_seed " + str(p["hnsw_seed"]),
                                  "faiss": "IndexHNSWFlat, one add() of the corpus, 1 OpenMP thread"},
                   "queries_without_vector": int((~q_ok).sum()), "documents_without_vector": int((~doc_ok).sum()),
                   "zero_vector_rule": "a query without a vector retrieves nothing (nDCG 0, kept in the mean)",
                   "runs": runs, "timings_s": timings}
        sidecars = {"query_ids": np.array(rt.query_ids), "per_query_exact_ndcg_at_10": exact_pq}
        return TaskOutput(scores=dict(sorted(scores.items())), details=details, sidecars=sidecars)

    def _build(self, library: str, metric: str, docs: np.ndarray):
        from adapters.indexes.faiss_hnsw import FaissHNSWIndex
        from adapters.indexes.hnswlib_index import HnswlibIndex
        p = self.params
        common = {"metric": metric, "M": int(p["M"]), "ef_construction": int(p["ef_construction"])}
        index = (HnswlibIndex(**common, random_seed=int(p["hnsw_seed"]), num_threads=1) if library == "hnswlib"
                 else FaissHNSWIndex(**common, omp_threads=1))
        index.build(docs)
        st = index.stats()
        return index, float(st["build_s"]), st

    def _ndcg(self, ids, dist, doc_rows, q_rows) -> tuple[float, np.ndarray]:
        """nDCG@10 averaged over every evaluated query; a query without a vector (absent from q_rows) is 0."""
        from .metrics.ir import retrieval_scores
        rt = self.retrieval
        run = {}
        for i, qi in enumerate(q_rows):
            run[rt.query_ids[qi]] = {rt.doc_ids[doc_rows[j]]: -float(d) for j, d in zip(ids[i], dist[i]) if j >= 0}
        per_query = {}
        if run:
            _, per_query = retrieval_scores(rt.qrels, run, [10], rounding=None)
        values = np.array([per_query.get(q, {}).get("ndcg_at_10", 0.0) for q in rt.query_ids], dtype=np.float64)
        return float(values.mean()), values


def _vectors(v, n: int, model, what: str) -> np.ndarray:
    v = np.asarray(v)
    if v.ndim != 2 or len(v) != n:
        raise EmbeddingError(f"model {model.meta.get('name')!r} returned shape {v.shape} for {n} {what} texts")
    v = np.ascontiguousarray(v, dtype=np.float32)
    bad = ~np.isfinite(v).all(axis=1)
    if bad.any():
        raise EmbeddingError(f"model {model.meta.get('name')!r}: non-finite {what} vector at row "
                             f"{int(np.flatnonzero(bad)[0])}")
    return v


def _unit(v: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(v / np.linalg.norm(v, axis=1, keepdims=True), dtype=np.float32)


def scifact(**params) -> RankingShiftTask:
    return RankingShiftTask("RankingShift-SciFact", "scifact", **params)


def nfcorpus(**params) -> RankingShiftTask:
    return RankingShiftTask("RankingShift-NFCorpus", "nfcorpus", **params)


# -- the cross-model view -----------------------------------------------------------------------------
def ranking_table(results: list[dict]) -> list[dict]:
    """Per (task, library, ef): Kendall τ and max position change of the model ranking, exact vs HNSW.

    `results`: result dicts of `ranking-shift` tasks (others are ignored), one per model and data set.
    """
    groups: dict[tuple, dict[str, tuple[float, float]]] = {}
    for r in results:
        if r.get("task_type") != "ranking-shift" or r.get("status") != "ok":
            continue
        for run in (r.get("details") or {}).get("runs", []):
            key = (r["task"], run["library"], run["ef"])
            groups.setdefault(key, {})[r["model"]] = (run["exact_ndcg_at_10"], run["ndcg_at_10"])
    rows = []
    for (task, library, ef), by_model in sorted(groups.items()):
        if len(by_model) < 2:
            continue
        shift = ranking_shift({m: v[0] for m, v in by_model.items()}, {m: v[1] for m, v in by_model.items()})
        rows.append({"task": task, "library": library, "ef": ef, "n_models": len(by_model),
                     "kendall_tau": shift["kendall_tau"], "max_position_change": shift["max_position_change"],
                     "models": {m: {"exact_ndcg_at_10": v[0], "hnsw_ndcg_at_10": v[1],
                                    "rank_exact": shift["rank_exact"][m], "rank_hnsw": shift["rank_approx"][m]}
                                for m, v in sorted(by_model.items())}})
    return rows


def format_table(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        tau = "nan" if math.isnan(row["kendall_tau"]) else f"{row['kendall_tau']:.3f}"
        lines.append(f"{row['task']}  {row['library']}  ef={row['ef']}  models={row['n_models']}  "
                     f"Kendall tau={tau}  max position change={row['max_position_change']}")
        for m, v in row["models"].items():
            lines.append(f"    {m:<28} exact {v['exact_ndcg_at_10']:.5f} (#{v['rank_exact']})  "
                         f"hnsw {v['hnsw_ndcg_at_10']:.5f} (#{v['rank_hnsw']})")
    return "\n".join(lines) if lines else "no ranking-shift results with at least 2 models"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Model ranking shift, exact vs HNSW search, from ranking-shift results")
    ap.add_argument("--results", default="results", help="results folder (default: results)")
    ap.add_argument("--json", help="also write the table as JSON to this file")
    args = ap.parse_args(argv)
    from harness.results import iter_results
    rows = ranking_table([r for _, r in iter_results(args.results)])
    print(format_table(rows))
    if args.json:
        import json
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
