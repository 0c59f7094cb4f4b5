"""Retrieval on BEIR-layout data (SciFact, NFCorpus, any `beir:/folder`, any public BEIR data set as
`beir:<name>`, tasks/beir_download.py), mteb's protocol (methods.md §5.4).

Data: `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl` (`_id`, `text`), `qrels/<split>.tsv`
(header `query-id corpus-id score`, CRLF tolerated). Documents are encoded as
`(title + " " + text).strip()` (role "document"), queries as their text (role "query"); only queries
with qrels in the split are evaluated. Without a data root, the mteb datasets on the Hugging Face
hub are loaded at the revisions mteb pins.

Search: corpus embeddings are written chunk by chunk into a temporary memmap (never held whole in
memory beyond one encode chunk), L2-normalised when the model's similarity is cosine, and indexed
with the job's index (`exact` by default: faiss flat kernels, chunked, running top-k). The exact
path keeps the top max(k_values) = 1000 per query, like mteb; an ANN index is asked for its top
`ann_top_k` (default 100, so k_values above it are not reported) and the result also holds its
recall@10 against exact search on the same embeddings (`index_recall_at_10`, id-based, and
`index_recall_tie_at_10`, tie-aware, methods.md §6.1) and the exact run's nDCG@10
(`exact_ndcg_at_10`), so the cost of the ANN index shows in nDCG.

Scores: pytrec_eval, mteb's tie-break and rounding (tasks/metrics/ir.py). Stored `scores` are what
mteb 2.26.24 stores: nDCG/MAP/recall/precision/hit rate rounded to 5 decimals (mteb's
`parse_metrics_from_scores` rounds before storing), MRR unrounded; the unrounded values of
everything are kept in `details["scores_unrounded"]`.

Bad input: duplicate ids (error naming id and line), empty corpus, missing fields, qrels that are
not `query-id<TAB>corpus-id<TAB>int` (error naming line), qrels naming unknown queries (warned with
counts; those queries cannot be encoded, so pytrec_eval drops them) or unknown documents (warned
with counts; kept, as relevant but unretrievable, as mteb/pytrec_eval score them), a model whose
query and document dimensions differ, and non-finite vectors (error naming the document's line).
"""
from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from harness.data import DatasetRecord, hub_available, no_data_root_error, require_dir
from harness.errors import DataError, EmbeddingError, HarnessError
from harness.io import load_npy
from harness.vectors import check_matrix, unit_rows

from . import params as check
from .base import HIGHER, ScoreRule, Task, TaskOutput
from .beir_download import beir_folder, is_beir_name
from .beir_layout import RetrievalDataWarning, read_folder, read_hub
from .metrics.ann import recall_at_k
from .metrics.ir import (K_VALUES, apply_identical_id_rule, mteb_rounded, retrieval_scores, search_run,
                         skip_first)

__all__ = ["RetrievalDataWarning", "RetrievalTask", "from_folder", "nfcorpus", "scifact"]


class RetrievalTask(Task):
    type = "retrieval"
    main_score = "ndcg_at_10"
    title = "Retrieval"
    ranked = True
    score_rules = (ScoreRule("*index_recall*", HIGHER, 0.02),      # ANN recall against exact search
                   ScoreRule("*recall_tie_at*", HIGHER, 0.02))
    version = 2  # 2: nAUC scores added
    uses_index = True

    @property
    def item_scores(self) -> dict:
        """Every per-query metric (nDCG, MAP, recall, precision, hit rate, MRR at each k) as the mean of its
        per-query column (the queries pytrec_eval evaluates, in queries.jsonl order); `accuracy` is recall@1.
        The stored scores are these means rounded as mteb stores them; nAUC does not decompose by query."""
        from .metrics.ir import PER_QUERY_PREFIXES
        ks = sorted({int(k) for k in self.params["k_values"]})
        out = {f"{prefix}_{k}": {"statistic": "mean", "columns": [f"{prefix}_{k}"]}
               for prefix in PER_QUERY_PREFIXES for k in ks}
        if 1 in ks:
            out["accuracy"] = {"statistic": "mean", "columns": ["recall_at_1"]}
        return out

    @property
    def index_k(self) -> int:
        """k of an approximate search (plan-time checks such as ef >= k see the task's own value)."""
        return int(self.params["ann_top_k"])

    def __init__(self, name: str, *, folder: str | None = None, path: str | None = None, hub_id: str | None = None,
                 hub_revision: str | None = None, split: str = "test", **params):
        self.name = name
        self.folder, self.path, self.hub_id, self.hub_revision = folder, path, hub_id, hub_revision
        self.split = split
        super().__init__(**params)
        self.doc_ids: list[str] = []
        self.doc_texts: list[str] = []
        self.doc_lines: list[int] = []
        self.query_ids: list[str] = []
        self.query_texts: list[str] = []
        self.query_lines: list[int] = []
        self.qrels: dict[str, dict[str, int]] = {}
        self.data_notes: dict = {}

    def default_params(self):
        return {"k_values": list(K_VALUES), "ignore_identical_ids": False, "skip_first_result": False,
                "ann_top_k": 100, "batch_size": None, "encode_chunk_size": 50_000, "max_memory_mb": None}

    def check_params(self) -> None:
        """Parameter values, checked before any data or model is read."""
        check.int_list(self, "k_values")
        check.flag(self, "ignore_identical_ids")
        check.flag(self, "skip_first_result")
        check.integer(self, "ann_top_k")
        check.integer(self, "batch_size", optional=True)
        check.integer(self, "encode_chunk_size", optional=True)
        check.number(self, "max_memory_mb", 1e-9, optional=True)

    # -- loading ----------------------------------------------------------------------------------
    def load(self, data_root: Path | None) -> DatasetRecord:
        self.check_params()
        if self.path is not None:
            folder = Path(self.path).expanduser()
            if not folder.is_dir() and is_beir_name(self.path):  # a public BEIR data set by name
                folder = beir_folder(self.path)
            folder = require_dir(folder, f"BEIR data for {self.name}")
        elif data_root is None:
            if not hub_available():
                raise no_data_root_error(self.name, self.folder)
            return self.load_hub()
        else:
            folder = require_dir(Path(data_root) / self.folder, f"{self.name} data")
        docs, queries, qrels, rec, (qrels_where, queries_where, corpus_where) = read_folder(folder, self.split)
        self._set_data(docs, queries, qrels, qrels_where, queries_where, corpus_where)
        self.dataset = rec
        return rec

    def load_hub(self) -> DatasetRecord:
        """The real loader: mteb's BEIR-format datasets on the hub (configs corpus / queries / default)."""
        docs, queries, qrels, self.dataset = read_hub(self.hub_id, self.hub_revision, self.split)
        self._set_data(docs, queries, qrels, self.hub_id, self.hub_id, self.hub_id)
        return self.dataset

    def _set_data(self, docs, queries, qrels, qrels_where, queries_where, corpus_where) -> None:
        self.doc_ids = [d[0] for d in docs]
        self.doc_texts = [(d[1] + " " + d[2]).strip() for d in docs]
        self.doc_lines = [d[3] for d in docs]
        known_docs = set(self.doc_ids)
        query_text = {q[0]: (q[2], q[3]) for q in queries}

        unknown_q = [q for q in qrels if q not in query_text]
        unknown_d = {d for rel in qrels.values() for d in rel if d not in known_docs}
        unknown_d_rows = sum(1 for rel in qrels.values() for d in rel if d not in known_docs)
        notes = {"qrels_unknown_queries": len(unknown_q), "qrels_unknown_documents": len(unknown_d),
                 "qrels_rows_unknown_documents": unknown_d_rows}
        if unknown_q:
            rows = sum(len(qrels[q]) for q in unknown_q)
            warnings.warn(RetrievalDataWarning(
                f"{qrels_where}: {rows} qrels row(s) name {len(unknown_q)} query id(s) absent from {queries_where} "
                f"(e.g. {unknown_q[0]!r}); those queries are not evaluated"), stacklevel=3)
        if unknown_d:
            warnings.warn(RetrievalDataWarning(
                f"{qrels_where}: {unknown_d_rows} qrels row(s) name {len(unknown_d)} document id(s) absent from "
                f"{corpus_where} (e.g. {sorted(unknown_d)[0]!r}); they stay in the qrels as relevant but "
                f"unretrievable, as pytrec_eval and mteb score them"), stacklevel=3)
        # evaluated queries: those with qrels (mteb drops queries whose qrels are empty), in queries.jsonl order
        evaluated = [q[0] for q in queries if qrels.get(q[0])]
        if not evaluated:
            raise DataError(f"no query of {queries_where} has qrels in split {self.split!r}", qrels_where)
        self.query_ids = evaluated
        self.query_texts = [query_text[q][0] for q in evaluated]
        self.query_lines = [query_text[q][1] for q in evaluated]
        self.qrels = {q: qrels[q] for q in evaluated}
        self._where = {"corpus": corpus_where, "queries": queries_where}
        self.data_notes = {"n_documents": len(self.doc_ids), "n_queries": len(evaluated),
                           "n_qrels": sum(len(r) for r in self.qrels.values()), **notes}

    def texts_to_encode(self) -> list[tuple[str, list[str]]]:
        """What `evaluate` encodes, for sharded encoding ahead of the job (harness/sharding.py)."""
        return [("query", self.query_texts), ("document", self.doc_texts)]

    # -- evaluation -------------------------------------------------------------------------------
    def evaluate(self, model, index=None) -> TaskOutput:
        from harness.registry import make_index

        self.check_params()
        p = self.params
        k_values = sorted({int(k) for k in p["k_values"]})
        index = index if index is not None else make_index("exact")
        exact = bool(index.spec().get("exact"))
        if not exact:
            k_values = [k for k in k_values if k <= int(p["ann_top_k"])]
            if not k_values:
                raise HarnessError(f"task {self.name}: ann_top_k={p['ann_top_k']} is below every k value")
        metric, normalize = index_metric_for(model.meta)
        search_params = {"max_memory_mb": p["max_memory_mb"]} if exact and p["max_memory_mb"] else {}
        timings = {}

        tmp = Path(tempfile.mkdtemp(prefix="harness-retrieval-"))
        try:
            t0 = time.perf_counter()
            queries = self._encode_queries(model, normalize)
            corpus = self._encode_corpus(model, tmp / "corpus.npy", normalize)
            timings["encode"] = time.perf_counter() - t0
            if queries.shape[1] != corpus.shape[1]:
                raise EmbeddingError(f"model {model.meta.get('name')!r}: query embeddings have dim {queries.shape[1]} "
                                     f"but document embeddings have dim {corpus.shape[1]}")
            n_docs = len(corpus)
            k_search = min(max(k_values) if exact else int(p["ann_top_k"]), n_docs)

            t0 = time.perf_counter()
            index.build(corpus, np.arange(n_docs, dtype=np.int64), metric=metric)
            timings["index_build"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            ids, dist = index.search(queries, k_search, **search_params)
            timings["search"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            scores, per_query, unrounded = self._score(ids, dist, k_values)
            timings["scoring"] = time.perf_counter() - t0
            details = {**self.data_notes, "metric": metric, "normalized_by_task": normalize, "k_searched": k_search,
                       "k_values": k_values, "scores_unrounded": unrounded}
            sidecars = {"query_ids": np.array(self.query_ids),
                        "per_query_ndcg_at_10": np.array([per_query[q].get("ndcg_at_10", np.nan)
                                                          for q in self.query_ids]),
                        "items": self._items(scores, per_query)}
            k_rec = min(10, n_docs)
            if exact:
                scores["index_recall_at_10"] = scores["index_recall_tie_at_10"] = 1.0
            else:
                # ground truth: exact search on the same embeddings, deep enough for the tie extension
                t0 = time.perf_counter()
                gt = make_index("exact", metric=metric).build(corpus)
                gt_ids, gt_dist = gt.search(queries, min(n_docs, max(max(k_values), k_rec)), **(
                    {"max_memory_mb": p["max_memory_mb"]} if p["max_memory_mb"] else {}))
                timings["exact_search"] = time.perf_counter() - t0
                rec_id, rec_tie = recall_at_k(gt_ids, gt_dist, ids, k_rec)
                exact_scores, _, exact_unrounded = self._score(gt_ids, gt_dist, k_values)
                scores["index_recall_at_10"] = float(rec_id.mean())
                scores["index_recall_tie_at_10"] = float(rec_tie.mean())
                scores["exact_ndcg_at_10"] = exact_scores["ndcg_at_10"] if "ndcg_at_10" in exact_scores else None
                details["exact_scores_unrounded"] = exact_unrounded
                details["index_recall_at_10_std"] = float(rec_id.std())
                sidecars["per_query_index_recall_at_10"] = rec_id
            details["timings_s"] = timings
            return TaskOutput(scores=scores, details=details, sidecars=sidecars)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _items(self, scores: dict, per_query: dict) -> np.ndarray:
        """The `items` sidecar: one row per evaluated query (queries.jsonl order), one column per metric."""
        evaluated = [q for q in self.query_ids if q in per_query]
        columns = (self.items_declaration(scores) or {}).get("columns", [])
        return self.items_matrix(scores, {c: [per_query[q][c] for q in evaluated] for c in columns})

    def _score(self, ids: np.ndarray, dist: np.ndarray, k_values: list[int]):
        """Run dict (score = -distance: exact float32 values) -> mteb-rounded scores, per query, unrounded."""
        run = search_run(self.query_ids, self.doc_ids, ids, dist)
        run = apply_identical_id_rule(run, bool(self.params["ignore_identical_ids"]))
        if self.params["skip_first_result"]:
            run = skip_first(run)
        unrounded, per_query = retrieval_scores(self.qrels, run, k_values, rounding=None)
        return mteb_rounded(unrounded), per_query, unrounded

    def _encode_queries(self, model, normalize: bool) -> np.ndarray:
        vecs = model.encode(self.query_texts, role="query", batch_size=self.params["batch_size"])
        return self._checked(vecs, model, "query", self.query_ids, self.query_lines, 0, len(self.query_ids), normalize)

    def _encode_corpus(self, model, path: Path, normalize: bool) -> np.ndarray:
        """Encode documents chunk by chunk into a float32 memmap at `path` (read-only when returned)."""
        n = len(self.doc_texts)
        step = max(1, int(self.params["encode_chunk_size"] or n))
        out = None
        for s in range(0, n, step):
            e = min(n, s + step)
            vecs = model.encode(self.doc_texts[s:e], role="document", batch_size=self.params["batch_size"])
            vecs = self._checked(vecs, model, "document", self.doc_ids, self.doc_lines, s, e, normalize,
                                 dim=None if out is None else out.shape[1])
            if out is None:
                out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, vecs.shape[1]))
            out[s:e] = vecs
        out.flush()
        del out
        return load_npy(path, "corpus embeddings", mmap=True)

    def _checked(self, vecs, model, what: str, ids, lines, start: int, stop: int, normalize: bool,
                 dim: int | None = None) -> np.ndarray:
        """harness.vectors' check (and unit rows when cosine) of the vectors of queries or documents
        start..stop-1; an error names the id and its line in the data file."""
        where = self._where["queries" if what == "query" else "corpus"]

        def locate(row: int) -> str:
            return f"{what} {ids[start + row]!r}, {where} line {lines[start + row]}"

        label = f"model {model.meta.get('name', 'model')!r} {what} vectors"
        vecs = check_matrix(vecs, label, rows=stop - start, dim=dim, locate=locate)
        return unit_rows(vecs, label, locate=locate) if normalize else vecs


def index_metric_for(meta: dict) -> tuple[str, bool]:
    """Index metric and whether the task L2-normalises, from the model's declared similarity (as mteb)."""
    sim = str(meta.get("similarity") or "cosine").lower()
    if sim in ("cosine", "cos", "cos_sim"):
        return "ip", True          # cosine = inner product of normalised vectors (mteb's cos_sim normalises)
    if sim in ("dot", "dot_product", "ip"):
        return "ip", False
    if sim in ("euclidean", "l2"):
        return "l2", False
    raise HarnessError(f"model {meta.get('name')!r}: unsupported similarity {sim!r} (cosine, dot or euclidean)")


# -- registry factories (MTEB names; hub ids and revisions as mteb 2.26.24 pins them) ---------------
def scifact(**params) -> RetrievalTask:
    return RetrievalTask("SciFact", folder="scifact", hub_id="mteb/scifact",
                         hub_revision="d56462d0e63a25450459c4f213e49ffdb866f7f9", **params)


def nfcorpus(**params) -> RetrievalTask:
    return RetrievalTask("NFCorpus", folder="nfcorpus", hub_id="mteb/nfcorpus",
                         hub_revision="ec0fa4fe99da2ff19ca1214b7966684033a58814", **params)


def from_folder(path: str, **params) -> RetrievalTask:
    """`beir:/path/to/folder`: any folder in the BEIR layout (split `test`); `beir:<name>` (e.g.
    `beir:fiqa`), when no such folder exists: the public BEIR data set, downloaded once."""
    return RetrievalTask(f"beir:{path}", path=path, **params)
