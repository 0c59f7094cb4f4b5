"""Reading a retrieval data set in the BEIR layout, from a folder or from mteb's copy on the hub.

Folder: `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl` (`_id`, `text`), `qrels/<split>.tsv`
(header `query-id corpus-id score`, CRLF tolerated). Records are `(id, title, text, line)`; duplicate
ids (error naming id and both lines), missing fields, qrels that are not `query-id<TAB>corpus-id<TAB>int`
(error naming the line) and conflicting grades are errors; repeated qrels rows are warned and ignored.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from harness.data import DatasetRecord, read_jsonl, read_tsv_rows
from harness.errors import DataError


class RetrievalDataWarning(UserWarning):
    """Qrels that name queries or documents the data set does not have, or repeat a row."""


def read_folder(folder: Path, split: str):
    """(docs, queries, qrels, record, (qrels path, queries path, corpus path)) of a BEIR-layout folder."""
    rec = DatasetRecord(path=str(folder.resolve()))
    corpus_path = rec.add(folder / "corpus.jsonl", folder)
    queries_path = rec.add(folder / "queries.jsonl", folder)
    qrels_file = folder / "qrels" / f"{split}.tsv"
    if not qrels_file.is_file():
        have = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        raise DataError(f"no qrels for split {split!r} (qrels/ has: {', '.join(have) or 'nothing'})", qrels_file)
    qrels_path = rec.add(qrels_file, folder)
    docs = _read_records(corpus_path, "document", with_title=True)
    if not docs:
        raise DataError("no documents (empty corpus)", corpus_path)
    queries = _read_records(queries_path, "query", with_title=False)
    qrels = _read_qrels(qrels_path)
    return docs, queries, qrels, rec, (str(qrels_path), str(queries_path), str(corpus_path))


def read_hub(hub_id: str, revision: str | None, split: str):
    """(docs, queries, qrels, record) of mteb's BEIR-format data set on the hub (configs corpus / queries /
    default) at `revision`."""
    import datasets

    def split_of(config):
        names = datasets.get_dataset_split_names(hub_id, config, revision=revision)
        return split if split in names else names[0]

    corpus = datasets.load_dataset(hub_id, "corpus", split=split_of("corpus"), revision=revision)
    queries = datasets.load_dataset(hub_id, "queries", split=split_of("queries"), revision=revision)
    qrels_ds = datasets.load_dataset(hub_id, "default", split=split, revision=revision)
    docs = [(str(r["_id"]), r.get("title") or "", r["text"], i + 1) for i, r in enumerate(corpus)]
    qs = [(str(r["_id"]), "", r["text"], i + 1) for i, r in enumerate(queries)]
    _check_unique(docs, hub_id + " corpus", "document")
    _check_unique(qs, hub_id + " queries", "query")
    qrels: dict[str, dict[str, int]] = {}
    for r in qrels_ds:
        qrels.setdefault(str(r["query-id"]), {})[str(r["corpus-id"])] = int(r["score"])
    if not docs:
        raise DataError("no documents (empty corpus)", hub_id)
    record = DatasetRecord(path=hub_id, source="hub", sha256={
        "revision": revision or "main",
        **{f"fingerprint:{n}": getattr(d, "_fingerprint", "unknown")
           for n, d in (("corpus", corpus), ("queries", queries), ("qrels", qrels_ds))}})
    return docs, qs, qrels, record


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
