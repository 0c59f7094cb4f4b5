"""Intrinsic dimension of a model's embedding space (methods.md §2).

The vectors are a model's embeddings of a named text set (Banking77 train texts, the SciFact
corpus as retrieval encodes it, Emotion train texts), or, for word-vector and precomputed adapters,
the model's own vector table (`all_vectors()`). One exact kNN search (tasks/metrics/knn.py) feeds
every kNN estimator; lPCA reads the covariance spectrum of the same rows.

Scores: `mle` (Levina-Bickel k=20, harmonic, the main score), `mle_mean`, `mle_median`,
`mle_unbiased` (k-2), `lid_mean`/`lid_median` (Amsaleg pointwise LID), `twonn` (linear fit, discard
0.1), `twonn_mle` (censored MLE), `lpca_fo`, `lpca_pr`, plus point counts. Sidecar `lid`: the
Amsaleg LID of every row of the set (NaN for rows not used: zero vectors, or rows left out by
`max_points` sampling), aligned with the set's unique texts in file order.

Rows that are all zeros (a word-vector model's out-of-vocabulary texts) are dropped and counted.
Near-duplicate vectors (||x_i - x_j|| <= duplicate_rel_tol x the larger norm, tasks/metrics/knn.py)
are one point: all but the first of each group are dropped before the kNN with a counted warning,
and `details["near_duplicates"]` says how many, by which rule, and which texts (the groups as rows
of the set, with their texts). With the default tolerance (1e-4, justified by measurement in
tasks/metrics/knn.py) the rows dropped, and so the scores, do not depend on which texts shared an
encoding batch: on MiniLM's Banking77 vectors exact-equality dedup dropped 4 rows in one run and 6
in another (issue 13: MLE 6.1545 vs 6.1684 on the same job key); this rule drops the same 6 (texts
equal up to case and whitespace) in both.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.data import DatasetRecord, read_jsonl, require_rows, task_folder
from harness.errors import DataError, HarnessError
from harness.vectors import check_matrix

from . import params as check
from .base import DESCRIPTIVE, ScoreRule, Task, TaskOutput


@dataclass(frozen=True)
class TextSet:
    """Where the texts come from: `<root>/<folder>/<file>`, one text per JSONL row."""
    label: str
    folder: str
    file: str
    fields: tuple[str, ...]        # several are joined with a space and stripped, as retrieval does
    role: str | None = None


TEXT_SETS = {
    "Banking77": TextSet("Banking77 train texts", "banking77", "train.jsonl", ("text",)),
    "Emotion": TextSet("Emotion train texts", "emotion", "train.jsonl", ("text",)),
    # as the retrieval task encodes documents: (title + " " + text).strip(), role "document"
    "SciFact": TextSet("SciFact corpus", "scifact", "corpus.jsonl", ("title", "text"), role="document"),
}
MODEL_VECTORS = "ModelVectors"


def load_texts(spec: TextSet, data_root: Path | None, task_name: str) -> tuple[list[str], DatasetRecord, int]:
    """Unique texts in file order, the record of the file read, and the number of repeats dropped."""
    folder = task_folder(data_root, task_name, spec.folder, f"{spec.folder}/{spec.file}")
    rec = DatasetRecord(path=str(folder))
    path = rec.add(folder / spec.file, folder)
    texts: list[str] = []
    for lineno, row in read_jsonl(path, required=spec.fields[-1:]):
        parts = []
        for key in spec.fields:
            value = row.get(key) or ""
            if not isinstance(value, str):
                raise DataError(f"field {key!r} is not a string", path, lineno)
            parts.append(value)
        # one field: the text exactly as stored (so the shared embedding cache hits); several: joined
        texts.append(parts[0] if len(parts) == 1 else " ".join(parts).strip())
    require_rows(texts, path, "texts")
    unique = list(dict.fromkeys(texts))
    return unique, rec, len(texts) - len(unique)


class GeometryTask(Task):
    """Shared by IntrinsicDimension and Spectrum: the vector set, its validation and sampling."""

    split = "train"

    def __init__(self, name: str, source: str, **params):
        if source != MODEL_VECTORS and source not in TEXT_SETS:
            raise HarnessError(f"unknown vector source {source!r}; valid: {sorted(TEXT_SETS) + [MODEL_VECTORS]}")
        self.name, self.source = name, source
        if source == "SciFact":
            self.split = "corpus"
        elif source == MODEL_VECTORS:
            self.split = "all"
        super().__init__(**params)
        self.texts: list[str] | None = None
        self.info: dict = {}

    def load(self, data_root: Path | None) -> DatasetRecord:
        self.check_params()
        if self.source == MODEL_VECTORS:
            self.dataset = DatasetRecord(path="model vectors (all_vectors())", source="model")
            return self.dataset
        self.texts, self.dataset, repeats = load_texts(TEXT_SETS[self.source], data_root, self.name)
        self.info = {"n_texts": len(self.texts) + repeats, "n_repeated_texts_dropped": repeats}
        return self.dataset

    def vectors(self, model) -> np.ndarray:
        """(n, d) float32: the model's own table, or its embeddings of the set's unique texts."""
        if self.source == MODEL_VECTORS:
            if not hasattr(model, "all_vectors"):
                raise HarnessError(f"task {self.name} needs a model with its own vector table (word-vector or "
                                   f"precomputed adapter); {model.meta.get('name')!r} has none: use a "
                                   f"text-set variant ({', '.join(TEXT_SETS)})")
            return np.asarray(model.all_vectors())
        spec = TEXT_SETS[self.source]
        return model.encode(self.texts, role=spec.role, batch_size=self.params.get("batch_size"))

    def check_params(self) -> None:
        """Parameter values, checked at load time (subclasses add theirs)."""
        check.integer(self, "batch_size", optional=True)

    def usable_rows(self, Z, max_rows: int | None) -> tuple[np.ndarray, np.ndarray, dict]:
        """(checked Z, rows to use, info): non-zero rows (zero = no vector), at most max_rows drawn with the seed."""
        Z = check_matrix(Z, f"{self.name} vectors", min_rows=2, dtype=None)
        nonzero = np.flatnonzero(np.any(Z != 0, axis=1))
        n_zero = len(Z) - len(nonzero)
        if n_zero:
            warnings.warn(f"{self.name}: dropped {n_zero} all-zero row(s) of {len(Z)} (no vector)", RuntimeWarning,
                          stacklevel=2)
        rows = nonzero
        if max_rows is not None and len(rows) > max_rows:
            pick = np.random.default_rng(self.seed).choice(len(rows), size=max_rows, replace=False)
            rows = rows[np.sort(pick)]
        if len(rows) < 2:
            raise HarnessError(f"{self.name}: {len(rows)} usable row(s) of {len(Z)}; need at least 2")
        return Z, rows, {**self.info, "n_rows": int(len(Z)), "n_zero_rows_dropped": int(n_zero),
                      "n_rows_used": int(len(rows))}


class IntrinsicDimensionTask(GeometryTask):
    type = "intrinsic-dimension"
    main_score = "mle"
    title = "Intrinsic dimension"
    score_rules = (ScoreRule("*", DESCRIPTIVE, 0.01),)   # ID estimates describe the space; no better way
    plots = ("tasks.plots.geometry:plot_lid_histogram",)
    version = 1

    def default_params(self):
        from .metrics.knn import DUPLICATE_REL_TOL
        # k = 20: skdim's default and the spec's; lid_k for the sidecar (Elliott & Clark used 100)
        return {"k": 20, "lid_k": 20, "discard_fraction": 0.1, "knn_precision": "float32",
                "max_points": 50_000, "duplicate_rel_tol": DUPLICATE_REL_TOL, "batch_size": None}

    def check_params(self) -> None:
        from .metrics.knn import PRECISIONS
        super().check_params()
        check.integer(self, "k", 3)
        check.integer(self, "lid_k", 3)
        check.number(self, "discard_fraction", 0.0, 1.0, high_open=True)
        check.choice(self, "knn_precision", PRECISIONS)
        check.integer(self, "max_points", 2, optional=True)
        check.number(self, "duplicate_rel_tol", 0.0, 0.1)

    def evaluate(self, model, index=None) -> TaskOutput:
        from .metrics.intrinsic_dim import estimate_all
        p = self.params
        Z, rows, info = self.usable_rows(self.vectors(model), p["max_points"])
        scores, lid, res = estimate_all(Z[rows], p["k"], lid_k=p["lid_k"], precision=p["knn_precision"],
                                        discard_fraction=p["discard_fraction"], rel_tol=p["duplicate_rel_tol"],
                                        what=f"{self.name} vectors")
        lid_all = np.full(len(Z), np.nan)
        lid_all[rows] = lid
        details = {**info, "n_duplicate_vectors_dropped": int(res.n_duplicates),
                   "near_duplicates": self.describe_duplicates(res.duplicates, rows), "lid_form": "amsaleg",
                   "sidecars": {"lid": "Amsaleg LID (k = lid_k) per row of the set; NaN = row not used"}}
        return TaskOutput(scores=scores, details=details, sidecars={"lid": lid_all})

    def describe_duplicates(self, summary: dict, rows: np.ndarray, shown: int = 10) -> dict:
        """The kNN's duplicate summary with its groups as rows of the set (and their texts, when it has texts)."""
        groups = [[int(rows[i]) for i in g] for g in summary.get("groups", [])]
        out = {**summary, "groups": groups}
        if self.texts is not None:
            out["examples"] = [[self.texts[i] for i in g] for g in groups[:shown]]
        return out


def source_factories(task_class, prefix: str) -> tuple:
    """Registry factories of a geometry task, one per vector source: Banking77, Emotion, SciFact, the model's
    own vectors (in that order), each named `<prefix>-<source>`."""
    return tuple((lambda source=source: task_class(f"{prefix}-{source}", source))
                 for source in ("Banking77", "Emotion", "SciFact", MODEL_VECTORS))


banking77, emotion, scifact, model_vectors = source_factories(IntrinsicDimensionTask, "IntrinsicDimension")
