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

from harness.data import DatasetRecord, hub_available, no_data_root_error, read_jsonl, read_tsv_rows, require_dir
from harness.errors import DataError, EmbeddingError, HarnessError

from .base import HIGHER, ScoreRule, Task, TaskOutput
from .beir_download import beir_folder, is_beir_name
from .metrics.ir import K_VALUES, ann_recall, apply_identical_id_rule, mteb_rounded, retrieval_scores, skip_first


class RetrievalDataWarning(UserWarning):
    """Qrels that name queries or documents the data set does not have."""


class RetrievalTask(Task):
    type = "retrieval"
    main_score = "ndcg_at_10"
    title = "Retrieval"
    ranked = True
    score_rules = (ScoreRule("*index_recall*", HIGHER, 0.02),      # ANN recall against exact search
                   ScoreRule("*recall_tie_at*", HIGHER, 0.02))
    version = 2  # 2: nAUC scores added
    uses_index = True

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

    # -- loading ----------------------------------------------------------------------------------
    def load(self, data_root: Path | None) -> DatasetRecord:
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
        rec = DatasetRecord(path=str(folder.resolve()))
        corpus_path = rec.add(folder / "corpus.jsonl", folder)
        queries_path = rec.add(folder / "queries.jsonl", folder)
        qrels_file = folder / "qrels" / f"{self.split}.tsv"
        if not qrels_file.is_file():
            have = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
            raise DataError(f"no qrels for split {self.split!r} (qrels/ has: {', '.join(have) or 'nothing'})",
                            qrels_file)
        qrels_path = rec.add(qrels_file, folder)

        docs = _read_records(corpus_path, "document", with_title=True)
        if not docs:
            raise DataError("no documents (empty corpus)", corpus_path)
        queries = _read_records(queries_path, "query", with_title=False)
        qrels = _read_qrels(qrels_path)
        self._set_data(docs, queries, qrels, str(qrels_path), str(queries_path), str(corpus_path))
        self.dataset = rec
        return rec

    def load_hub(self) -> DatasetRecord:
        """The real loader: mteb's BEIR-format datasets on the hub (configs corpus / queries / default)."""
        import datasets

        def split_of(config):
            names = datasets.get_dataset_split_names(self.hub_id, config, revision=self.hub_revision)
            return self.split if self.split in names else names[0]

        corpus = datasets.load_dataset(self.hub_id, "corpus", split=split_of("corpus"), revision=self.hub_revision)
        queries = datasets.load_dataset(self.hub_id, "queries", split=split_of("queries"), revision=self.hub_revision)
        qrels_ds = datasets.load_dataset(self.hub_id, "default", split=self.split, revision=self.hub_revision)
        docs = [(str(r["_id"]), r.get("title") or "", r["text"], i + 1) for i, r in enumerate(corpus)]
        qs = [(str(r["_id"]), "", r["text"], i + 1) for i, r in enumerate(queries)]
        _check_unique(docs, self.hub_id + " corpus", "document")
        _check_unique(qs, self.hub_id + " queries", "query")
        qrels: dict[str, dict[str, int]] = {}
        for r in qrels_ds:
            qrels.setdefault(str(r["query-id"]), {})[str(r["corpus-id"])] = int(r["score"])
        if not docs:
            raise DataError("no documents (empty corpus)", self.hub_id)
        self._set_data(docs, qs, qrels, self.hub_id, self.hub_id, self.hub_id)
        self.dataset = DatasetRecord(path=self.hub_id, source="hub", sha256={
            "revision": self.hub_revision or "main",
            **{f"fingerprint:{n}": getattr(d, "_fingerprint", "unknown")
               for n, d in (("corpus", corpus), ("queries", queries), ("qrels", qrels_ds))}})
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

    # -- evaluation -------------------------------------------------------------------------------
    def evaluate(self, model, index=None) -> TaskOutput:
        from adapters.indexes.exact import ExactIndex

        p = self.params
        k_values = sorted({int(k) for k in p["k_values"]})
        if not k_values or k_values[0] < 1:
            raise HarnessError(f"task {self.name}: k_values must be positive integers, got {p['k_values']}")
        index = index if index is not None else ExactIndex()
        exact = bool(getattr(index, "is_exact", False))
        if not exact:
            k_values = [k for k in k_values if k <= int(p["ann_top_k"])]
            if not k_values:
                raise HarnessError(f"task {self.name}: ann_top_k={p['ann_top_k']} is below every k value")
        metric, normalize = _metric_for(model.meta)
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
                                                          for q in self.query_ids])}
            k_rec = min(10, n_docs)
            if exact:
                scores["index_recall_at_10"] = scores["index_recall_tie_at_10"] = 1.0
            else:
                # ground truth: exact search on the same embeddings, deep enough for the tie extension
                t0 = time.perf_counter()
                gt = ExactIndex(metric=metric).build(corpus)
                gt_ids, gt_dist = gt.search(queries, min(n_docs, max(max(k_values), k_rec)), **(
                    {"max_memory_mb": p["max_memory_mb"]} if p["max_memory_mb"] else {}))
                timings["exact_search"] = time.perf_counter() - t0
                rec_id, rec_tie = ann_recall(gt_ids, gt_dist, ids, k_rec)
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

    def _score(self, ids: np.ndarray, dist: np.ndarray, k_values: list[int]):
        """Run dict (score = -distance: exact float32 values) -> mteb-rounded scores, per query, unrounded."""
        run = {}
        doc_ids = self.doc_ids
        for qi, qid in enumerate(self.query_ids):
            row_ids, row_d = ids[qi].tolist(), dist[qi].tolist()
            run[qid] = {doc_ids[j]: -d for j, d in zip(row_ids, row_d) if j >= 0}
        run = apply_identical_id_rule(run, bool(self.params["ignore_identical_ids"]))
        if self.params["skip_first_result"]:
            run = skip_first(run)
        unrounded, per_query = retrieval_scores(self.qrels, run, k_values, rounding=None)
        return mteb_rounded(unrounded), per_query, unrounded

    def _encode_queries(self, model, normalize: bool) -> np.ndarray:
        vecs = np.asarray(model.encode(self.query_texts, role="query", batch_size=self.params["batch_size"]))
        vecs = _checked(vecs, len(self.query_texts), model, self._where["queries"], self.query_ids, self.query_lines,
                        "query")
        return _normalized(vecs, self._where["queries"], self.query_ids, self.query_lines, "query") if normalize else vecs

    def _encode_corpus(self, model, path: Path, normalize: bool) -> np.ndarray:
        """Encode documents chunk by chunk into a float32 memmap at `path` (read-only when returned)."""
        n = len(self.doc_texts)
        step = max(1, int(self.params["encode_chunk_size"] or n))
        out = None
        for s in range(0, n, step):
            e = min(n, s + step)
            vecs = np.asarray(model.encode(self.doc_texts[s:e], role="document", batch_size=self.params["batch_size"]))
            ids, lines = self.doc_ids[s:e], self.doc_lines[s:e]
            vecs = _checked(vecs, e - s, model, self._where["corpus"], ids, lines, "document")
            if normalize:
                vecs = _normalized(vecs, self._where["corpus"], ids, lines, "document")
            if out is None:
                out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, vecs.shape[1]))
            elif vecs.shape[1] != out.shape[1]:
                raise EmbeddingError(f"model {model.meta.get('name')!r} returned dim {vecs.shape[1]} for documents "
                                     f"{s}..{e - 1} but dim {out.shape[1]} before")
            out[s:e] = vecs
        out.flush()
        del out
        return np.load(path, mmap_mode="r")


def _metric_for(meta: dict) -> tuple[str, bool]:
    """Index metric and whether the task L2-normalises, from the model's declared similarity (as mteb)."""
    sim = str(meta.get("similarity") or "cosine").lower()
    if sim in ("cosine", "cos", "cos_sim"):
        return "ip", True          # cosine = inner product of normalised vectors (mteb's cos_sim normalises)
    if sim in ("dot", "dot_product", "ip"):
        return "ip", False
    if sim in ("euclidean", "l2"):
        return "l2", False
    raise HarnessError(f"model {meta.get('name')!r}: unsupported similarity {sim!r} (cosine, dot or euclidean)")


def _checked(vecs, n_expected, model, where, ids, lines, what) -> np.ndarray:
    name = model.meta.get("name", "model")
    if vecs.ndim != 2 or vecs.shape[0] != n_expected:
        raise EmbeddingError(f"model {name!r} returned shape {vecs.shape} for {n_expected} {what} texts")
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    bad = ~np.isfinite(vecs).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"model {name!r} returned a non-finite vector (NaN/Inf) for {what} {ids[i]!r} "
                        f"({int(bad.sum())} such {what} vector(s) in this batch)", where, lines[i])
    return vecs


def _normalized(vecs, where, ids, lines, what) -> np.ndarray:
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    zero = norms[:, 0] == 0
    if zero.any():
        i = int(np.flatnonzero(zero)[0])
        raise DataError(f"{what} {ids[i]!r} has a zero embedding; cosine similarity is undefined for it", where,
                        lines[i])
    return (vecs / norms).astype(np.float32, copy=False)


def _read_records(path: Path, what: str, with_title: bool) -> list[tuple[str, str, str, int]]:
    """(id, title, text, line) per JSONL row; duplicate ids are an error naming id and both lines."""
    out = []
    for lineno, obj in read_jsonl(path, required=("_id", "text")):
        rid = obj["_id"]
        if isinstance(rid, bool) or not isinstance(rid, (str, int)):
            raise DataError(f"field '_id' must be a string, got {type(rid).__name__}", path, lineno)
        text = obj["text"]
        title = obj.get("title") if with_title else ""
        if not isinstance(text, str):
            raise DataError(f"field 'text' is not a string ({type(text).__name__})", path, lineno)
        if title is None:
            title = ""
        if not isinstance(title, str):
            raise DataError(f"field 'title' is not a string ({type(title).__name__})", path, lineno)
        out.append((str(rid), title, text, lineno))
    _check_unique(out, path, what)
    return out


def _check_unique(records, path, what: str) -> None:
    first: dict[str, int] = {}
    for rid, _, _, lineno in records:
        if rid in first:
            raise DataError(f"duplicate {what} id {rid!r} (first at line {first[rid]})", path, lineno)
        first[rid] = lineno


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """BEIR qrels: optional header, then `query-id<TAB>corpus-id<TAB>score` (integer grade)."""
    qrels: dict[str, dict[str, int]] = {}
    seen_at: dict[tuple[str, str], int] = {}
    repeated = 0
    first = True
    for lineno, cols in read_tsv_rows(path, comment="", min_cols=1):
        if len(cols) != 3:
            raise DataError(f"expected 3 tab-separated columns (query-id, corpus-id, score), got {len(cols)}",
                            path, lineno)
        qid, did, raw = (c.strip() for c in cols)
        if first and not _is_number(raw):
            first = False
            continue  # header line
        first = False
        if not qid or not did:
            raise DataError("empty query-id or corpus-id", path, lineno)
        try:
            grade = float(raw)
        except ValueError:
            raise DataError(f"score is not a number: {raw!r}", path, lineno) from None
        if not np.isfinite(grade) or grade != int(grade):
            raise DataError(f"score must be an integer relevance grade, got {raw!r}", path, lineno)
        grade = int(grade)
        key = (qid, did)
        if key in seen_at:
            if qrels[qid][did] != grade:
                raise DataError(f"conflicting grades for query {qid!r} / document {did!r}: {qrels[qid][did]} at line "
                                f"{seen_at[key]}, {grade} here", path, lineno)
            repeated += 1
            continue
        seen_at[key] = lineno
        qrels.setdefault(qid, {})[did] = grade
    if repeated:
        warnings.warn(RetrievalDataWarning(f"{path}: {repeated} repeated qrels row(s) ignored"), stacklevel=3)
    if not qrels:
        raise DataError("no qrels rows", path)
    return qrels


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


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
