"""Compression sweep (issue 17): Matryoshka truncation x precision x rescoring, quality against bytes.

`Compression-<task>` wraps one task (SciFact retrieval, STSBenchmark, Banking77 classification; suite
`compression`) and scores it at every point of dims {full, 256, 128, 64, 32} (by default those below the model's dimension; an explicit `dims` entry above it
is an error) x precisions {float32,
float16, int8, binary} x rescoring {off, r = 4}. The model's float32 vectors are encoded once (through the
embedding cache) and every point is derived from them (`harness.quantize`), never re-encoded.

- Retrieval: queries and corpus as `RetrievalTask` encodes them (unit rows under cosine, the same path,
  so float32 at full dimension reproduces the retrieval task's nDCG@10), truncated (re-normalised) to d';
  float32 and float16 corpora are searched exactly (`exact`, float16 values), int8 with the integer dot
  product (`int8-flat`), binary with Hamming distance (`binary-hamming`), with and without rescoring the
  top k * r by the float32 query. Indexes come from `harness.registry.make_index` only. Search QPS =
  queries / wall time of the one batched search (machine-dependent, never gated).
- STS and classification: the wrapped task's own `evaluate` on `CompressedModel` vectors (what the codes
  stand for: float16 values, int8 codes, +1 / -1 bits); rescoring needs a candidate list, so these tasks
  have rescoring off only (recorded as such), and no search QPS.
- int8 calibration: the corpus (retrieval), the sentences (STS) or the evaluation split (classification)
  by default (`calibration`: "task"), or a named .npy of float32 vectors (`calibration`: path); its size and sha256 are recorded.

Scores per point `<dim>_<precision>_<rescore>_<what>` (e.g. `128_binary_r4_score`), what being `score`,
`pct_of_float32` (percent of the float32 full-dimension score; main score: `full_float32_off_score`),
`bytes_per_vector`, `search_qps` (best of `search_repeats` timed searches); `details["points"]` holds the
same as rows for the plot and the table (tasks/plots/compression.py).
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from harness import quantize as qz
from harness.errors import HarnessError

from .base import HIGHER, ScoreRule, Task, TaskOutput

DIMS = ("full", 256, 128, 64, 32)
PRECISIONS = ("float32", "float16", "int8", "binary")
RESCORE = (None, 4)   # None: off; r: rescore the top k * r
INDEX_FOR = {"int8": "int8-flat", "binary": "binary-hamming"}


class CompressionTask(Task):
    type = "compression"
    title = "Compression: truncation x quantisation x rescoring"
    ranked = False
    version = 1
    main_score = "full_float32_off_score"
    score_rules = (ScoreRule("*_pct_of_float32", HIGHER, 0.1), ScoreRule("*_score", HIGHER, 0.001))
    plots = ("tasks.plots.compression:plot_quality_vs_bytes",)
    tables = ("tasks.plots.compression:table_compression",)

    def __init__(self, name: str, inner_factory, **params):
        self.name = name
        self.inner = inner_factory()
        self.split = self.inner.split
        super().__init__(**params)

    def default_params(self):
        return {"dims": None, "precisions": list(PRECISIONS), "rescore_multipliers": [None, 4], "k": 100,
                "calibration": "task", "search_repeats": 3}

    def check_params(self, full_dim: int | None = None) -> None:
        p = self.params
        for prec in p["precisions"]:
            qz.check_precision(prec, "precision in task parameter 'precisions'")
        for r in p["rescore_multipliers"]:
            if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 1):
                raise HarnessError(f"task {self.name}: rescore_multipliers holds {r!r}; valid: None (off) or "
                                   "an integer >= 1")
        if full_dim is not None and p["dims"] is not None:
            for d in p["dims"]:
                qz.check_dim(d, full_dim, f"task {self.name}: dims entry")
        if isinstance(p["search_repeats"], bool) or not isinstance(p["search_repeats"], int) or p["search_repeats"] < 1:
            raise HarnessError(f"task {self.name}: search_repeats={p['search_repeats']!r}; valid: an integer >= 1")
        if isinstance(p["k"], bool) or not isinstance(p["k"], int) or p["k"] < 10:
            raise HarnessError(f"task {self.name}: k={p['k']!r}; valid: an integer >= 10 (nDCG@10 needs 10)")

    def load(self, data_root: Path | None):
        self.check_params()
        self.dataset = self.inner.load(data_root)
        return self.dataset

    def dims(self, full_dim: int) -> list:
        """`dims` as given (each checked), or by default full, 256, 128, 64, 32 below the model's dimension."""
        if self.params["dims"] is not None:
            return list(self.params["dims"])
        return [d for d in DIMS if d == "full" or d < full_dim]

    def points(self, full_dim: int, searchable: bool):
        p = self.params
        for d in self.dims(full_dim):
            dim = qz.check_dim(d, full_dim, f"task {self.name}: dims entry")
            for prec in p["precisions"]:
                for r in p["rescore_multipliers"]:
                    if r is not None and (not searchable or prec not in INDEX_FOR):
                        continue   # rescoring needs a compressed candidate list
                    yield ("full" if dim == full_dim else dim), dim, prec, r

    def evaluate(self, model, index=None) -> TaskOutput:
        full = int(model.meta.get("dim") or 0)
        self.check_params(full or None)
        if self.inner.type == "retrieval":
            rows, calib = _retrieval_rows(self, model, full)
        else:
            rows, calib = _wrapped_rows(self, model, full)
        ref = next((r["score"] for r in rows if r["dim"] == full and r["precision"] == "float32"
                    and r["rescore"] is None), None)
        scores = {"full_float32_off_score": None}   # stays None when the grid leaves the reference out
        for r in rows:
            r["pct_of_float32"] = 100.0 * r["score"] / ref if ref else None
            scores.update({f"{r['key']}_{k}": r[k] for k in ("score", "pct_of_float32", "bytes_per_vector",
                                                             "search_qps") if r[k] is not None})
        details = {"inner_task": self.inner.name, "inner_main_score": self.inner.main_score, "full_dim": full,
                   "points": rows, "calibration": calib, "model": model.meta.get("name")}
        return TaskOutput(scores=scores, details=details)


def _row(label, dim, prec, r, score, qps):
    key = f"{label}_{prec}_{'off' if r is None else f'r{r}'}"
    return {"key": key, "dim": dim, "dim_label": str(label), "precision": prec, "rescore": r, "score": float(score),
            "bytes_per_vector": qz.bytes_per_vector(dim, prec), "search_qps": qps}


def _calibration_record(vectors: np.ndarray, what: str) -> dict:
    return {"set": what, "n": int(len(vectors)),
            "sha256": hashlib.sha256(np.ascontiguousarray(vectors, dtype=np.float32).tobytes()).hexdigest()}


def _named_calibration(task, fallback: np.ndarray, what: str) -> tuple[np.ndarray, dict]:
    """The calibration vectors: `fallback` (the corpus / the task's texts) or the .npy the params name."""
    name = task.params["calibration"]
    if name in (None, "task", "corpus"):
        return fallback, _calibration_record(fallback, what)
    from harness.io import load_npy
    vectors = load_npy(name, "calibration vectors")
    if vectors.ndim != 2 or vectors.shape[1] != fallback.shape[1]:
        raise HarnessError(f"task {task.name}: calibration {name} has shape {vectors.shape}; expected (n, "
                           f"{fallback.shape[1]}) float32 vectors of the model")
    return vectors, _calibration_record(vectors, str(name))


def _retrieval_rows(task, model, full: int):
    from harness.registry import make_index
    from tasks.retrieval import index_metric_for

    rt = task.inner
    rt.check_params()
    metric, normalize = index_metric_for(model.meta)
    renorm = normalize or bool(model.meta.get("normalized"))
    tmp = Path(tempfile.mkdtemp(prefix="harness-compression-"))
    try:
        queries = rt._encode_queries(model, normalize)
        corpus = np.array(rt._encode_corpus(model, tmp / "corpus.npy", normalize))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    calib, record = _named_calibration(task, corpus, "corpus")
    k = min(int(task.params["k"]), len(corpus))
    rows = []
    for label, dim, prec, r in task.points(full, searchable=True):
        q, c = qz.truncate(queries, dim, renorm), qz.truncate(corpus, dim, renorm)
        if prec in INDEX_FOR:
            kw = {"code": "int8", "ranges": _ranges(calib, dim, renorm, record)} if prec == "int8" else {}
            index = make_index(INDEX_FOR[prec], metric=metric, **kw).build(c)
            query = {"rescore": r is not None, **({"rescore_multiplier": r} if r else {})}
        else:
            c = qz.decode(qz.quantize(c, prec), prec, dim)   # float16 values (identity for float32)
            index, query = make_index("exact", metric=metric).build(c), {}
        best = np.inf
        for _ in range(int(task.params["search_repeats"])):   # best of n: a busy machine only slows a run down
            t0 = time.perf_counter()
            ids, dist = index.search(q, k, **query)
            best = min(best, time.perf_counter() - t0)
        qps = len(q) / max(best, 1e-9)
        scores, _, _ = rt._score(ids, dist, [10])
        rows.append(_row(label, dim, prec, r, scores["ndcg_at_10"], qps))
    return rows, record


def _ranges(calib: np.ndarray, dim: int, renorm: bool, record: dict):
    """int8 ranges of the calibration vectors truncated to `dim`; a small-set warning is raised once and
    recorded in the calibration record."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", qz.CompressionWarning)
        ranges = qz.calibration_ranges(qz.truncate(calib, dim, renorm), f"calibration set {record['set']}")
    new = [str(w.message) for w in caught if str(w.message) not in record.setdefault("warnings", [])]
    for message in new:
        record["warnings"].append(message)
        warnings.warn(qz.CompressionWarning(message), stacklevel=2)
    return ranges


def _wrapped_rows(task, model, full: int):
    from adapters.models.compressed import CompressedModel

    texts = _task_texts(task.inner)
    base = model.encode(texts, role=None)
    calib, record = _named_calibration(task, base, "task texts")
    renorm = bool(model.meta.get("normalized")) or str(model.meta.get("similarity", "")).lower() in ("cosine", "cos")
    rows = []
    for label, dim, prec, r in task.points(full, searchable=False):
        ranges = _ranges(calib, dim, renorm, record) if prec in qz.SCALAR else None
        derived = CompressedModel(model, dim=dim, precision=prec, ranges=ranges)
        out = task.inner.evaluate(derived)
        scores = out.scores if hasattr(out, "scores") else out
        rows.append(_row(label, dim, prec, r, scores[task.inner.main_score], None))
    return rows, record


def _task_texts(inner) -> list[str]:
    """Every text the wrapped task encodes (its int8 calibration set by default)."""
    if getattr(inner, "pairs", None) is not None:
        s1, s2, _ = inner.pairs
        return list(dict.fromkeys(s1 + s2))
    if getattr(inner, "evals", None) is not None:   # the evaluation split (its train rows are drawn later)
        return list(dict.fromkeys(inner.evals.texts))
    raise HarnessError(f"task {inner.name}: the compression sweep wraps retrieval, STS and classification tasks")


# -- registry factories ------------------------------------------------------------------------------
def scifact(**params) -> CompressionTask:
    from tasks.retrieval import scifact as inner
    return CompressionTask("Compression-SciFact", inner, **params)


def stsbenchmark(**params) -> CompressionTask:
    from tasks.sts import stsbenchmark as inner
    return CompressionTask("Compression-STSBenchmark", inner, **params)


def banking77(**params) -> CompressionTask:
    from tasks.classification import banking77 as inner
    return CompressionTask("Compression-Banking77", inner, **params)
