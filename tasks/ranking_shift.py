"""How model rankings shift when retrieval uses HNSW instead of exact search (methods.md §1.2 step 7).

Two halves, because a task sees one model and a ranking needs several:

1. Task type `ranking-shift` (`RankingShift-SciFact`, `RankingShift-NFCorpus`), one job per model:
   encodes the BEIR corpus and test queries as the retrieval task does (same texts, so the shared
   embedding cache answers), searches the top-k exactly (the registry's exact index) and with each
   index of `indexes` (tasks/index_specs.py; any registered adapter taking M, ef_construction and
   ef) built in corpus order at the paper's fixed parameters (M=16, efConstruction=128,
   efSearch=40; default hnswlib with 1 insertion thread, faiss-hnsw with one add() on 1 OpenMP
   thread), and scores nDCG@10 of each with pytrec_eval (tasks/metrics/ir.py). Also stored:
   recall@10 of each index against exact search on the same embeddings (tie-aware, methods.md
   §6.1) and the nDCG at other ef values. Scores and runs name each index by its label
   (`<label>_ndcg_at_10`, the runs' `library`); the main score is the `main_index`'s.
2. `ranking_table(results)`: reads those result dicts for all models and, per data set, index and
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
from harness.errors import HarnessError
from harness.vectors import check_matrix, unit_rows, zero_rows

from . import params as check
from .base import DESCRIPTIVE, HIGHER, ScoreRule, Task, TaskOutput
from .index_specs import IndexSpec, default_indexes, parse_indexes
from .metrics.ann import ranking_shift, recall_at_k


class RankingShiftTask(Task):
    type = "ranking-shift"
    version = 2   # 2: indexes from the registry (`indexes`, `main_index`)
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

    @property
    def main_score(self) -> str:
        """nDCG@10 of the main index at main_ef (`hnswlib_ndcg_at_10` by default)."""
        return f"{self.params['main_index']}_ndcg_at_10"

    def default_params(self):
        return {"M": 16, "ef_construction": 128, "ef": [10, 20, 40], "main_ef": 40, "k": 10,
                "indexes": default_indexes(), "main_index": "hnswlib", "batch_size": None}

    def check_params(self) -> list[IndexSpec]:
        """Every parameter value, before any data is read; returns the index specs."""
        p = self.params
        k = check.integer(self, "k")
        efs = check.int_list(self, "ef")
        if min(efs) < k:   # hnswlib would silently raise ef to k: refused so indexes compare (methods.md §1.2)
            raise HarnessError(f"task {self.name}: ef must be >= k (ef={min(efs)}, k={k})")
        if check.integer(self, "main_ef") not in efs:
            raise HarnessError(f"task {self.name}: main_ef {p['main_ef']} must be one of ef {p['ef']}")
        check.integer(self, "M", 2)
        check.integer(self, "ef_construction")
        check.integer(self, "batch_size", optional=True)
        specs = parse_indexes(self.name, p["indexes"], {"M": p["M"], "ef_construction": p["ef_construction"]})
        if p["main_index"] not in [s.label for s in specs]:
            raise HarnessError(f"task {self.name}: main_index {p['main_index']!r} is not among the indexes "
                               f"{[s.label for s in specs]}")
        return specs

    def load(self, data_root: Path | None) -> DatasetRecord:
        from . import retrieval
        factories = {"scifact": retrieval.scifact, "nfcorpus": retrieval.nfcorpus}
        key = self.dataset_key
        if key not in factories and not key.startswith("beir:"):
            raise HarnessError(f"ranking shift: unknown data set {key!r}; valid: {', '.join(factories)}, "
                               "beir:<folder>")
        self.check_params()
        self.retrieval = factories[key]() if key in factories else retrieval.from_folder(key[len("beir:"):])
        self.dataset = self.retrieval.load(data_root)
        return self.dataset

    def evaluate(self, model, index=None) -> TaskOutput:
        from harness.registry import make_index
        from tasks.retrieval import index_metric_for

        if self.retrieval is None:
            raise HarnessError(f"task {self.name}: evaluate() before load()")
        specs = self.check_params()
        rt, p = self.retrieval, self.params
        k = int(p["k"])
        metric, normalize = index_metric_for(model.meta)
        timings = {}
        t0 = time.perf_counter()
        name = model.meta.get("name")
        docs = check_matrix(model.encode(rt.doc_texts, role="document", batch_size=p["batch_size"]),
                            f"model {name!r} document vectors", rows=len(rt.doc_texts))
        queries = check_matrix(model.encode(rt.query_texts, role="query", batch_size=p["batch_size"]),
                               f"model {name!r} query vectors", rows=len(rt.query_texts), dim=docs.shape[1])
        timings["encode"] = time.perf_counter() - t0
        doc_ok, q_ok = np.ones(len(docs), bool), np.ones(len(queries), bool)
        if normalize:   # a zero vector has no cosine: the text has no vector (module docstring)
            doc_ok[zero_rows(docs)] = False
            q_ok[zero_rows(queries)] = False
        doc_rows, q_rows = np.flatnonzero(doc_ok), np.flatnonzero(q_ok)
        if len(doc_rows) < k:
            raise HarnessError(f"{self.name}: only {len(doc_rows)} documents have a vector, fewer than k={k}")
        docs = unit_rows(docs[doc_rows], "documents") if normalize else np.ascontiguousarray(docs[doc_rows])
        qv = unit_rows(queries[q_rows], "queries") if normalize else np.ascontiguousarray(queries[q_rows])

        t0 = time.perf_counter()
        gt_ids, gt_d = make_index("exact", metric=metric).build(docs).search(qv, min(len(docs), k + 10))
        timings["exact_search"] = time.perf_counter() - t0
        exact_ndcg, exact_pq = self._ndcg(gt_ids[:, :k], gt_d[:, :k], doc_rows, q_rows)
        scores = {"exact_ndcg_at_10": exact_ndcg}
        runs, built = [], []
        for spec in specs:
            index = spec.make(metric, {"M": int(p["M"]), "ef_construction": int(p["ef_construction"])}).build(docs)
            stats = index.stats()
            built.append({**spec.describe(), "spec": index.spec(), "build_s": float(stats["build_s"]),
                          "threads": stats.get("threads"), "size_bytes": stats.get("size_bytes")})
            for ef in sorted({int(e) for e in p["ef"]}):
                t0 = time.perf_counter()
                ids, dist = spec.search(index, qv, k, ef)
                search_s = time.perf_counter() - t0
                ndcg, _ = self._ndcg(ids, dist, doc_rows, q_rows)
                _, rtie = recall_at_k(gt_ids, gt_d, ids, k)
                runs.append({"library": spec.label, "ef": ef, "ndcg_at_10": ndcg, "exact_ndcg_at_10": exact_ndcg,
                             "ndcg_delta": ndcg - exact_ndcg, "recall_tie_at_10": float(rtie.mean()),
                             "search_s": search_s, "build_s": float(stats["build_s"]),
                             "size_bytes": stats.get("size_bytes")})
                if ef == int(p["main_ef"]):
                    scores[f"{spec.label}_ndcg_at_10"] = ndcg
                    scores[f"{spec.label}_ndcg_delta"] = ndcg - exact_ndcg
                    scores[f"{spec.label}_recall_tie_at_10"] = float(rtie.mean())
        details = {"dataset": rt.name, "n_documents": len(rt.doc_texts), "n_queries": len(rt.query_texts),
                   "metric": metric, "normalized_by_task": normalize, "k": k, "main_ef": int(p["main_ef"]),
                   "hnsw_build": {"M": int(p["M"]), "ef_construction": int(p["ef_construction"]),
                                  "order": "corpus order (no order given)", "indexes": built},
                   "queries_without_vector": int((~q_ok).sum()), "documents_without_vector": int((~doc_ok).sum()),
                   "zero_vector_rule": "a query without a vector retrieves nothing (nDCG 0, kept in the mean)",
                   "runs": runs, "timings_s": timings}
        sidecars = {"query_ids": np.array(rt.query_ids), "per_query_exact_ndcg_at_10": exact_pq}
        return TaskOutput(scores=dict(sorted(scores.items())), details=details, sidecars=sidecars)

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
    from harness.results import load_result_files
    pairs, problems = load_result_files(args.results)
    for problem in problems:
        print(f"skipped: {problem}", file=sys.stderr)
    rows = ranking_table([r for _, r in pairs])
    print(format_table(rows))
    if args.json:
        import json
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
