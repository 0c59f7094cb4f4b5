"""Word similarity (WordSim-353, SimLex-999): Spearman of cosine vs human scores.

Word-vector adapters are looked up word by word (`lookup`); pairs with an out-of-vocabulary word
are dropped and reported (count and fraction), as the usual word-similarity evaluations do.
Sentence models encode each single word as a text. Main score `spearman` (over covered pairs).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.data import DatasetRecord, as_float, read_tsv_rows, require_rows, task_folder
from harness.errors import DataError

from .base import Task, TaskOutput


class WordSimilarityTask(Task):
    type = "word-similarity"
    main_score = "spearman"
    title = "Word similarity"
    ranked = True
    version = 1
    # per pair of the file, in file order: human score and cosine (NaN where a word is out of vocabulary, so the
    # pairs line up across models; the statistics leave those pairs out, as the scores do)
    item_scores = {"spearman": {"statistic": "spearman", "columns": ["gold", "cosine"]},
                   "pearson": {"statistic": "pearson", "columns": ["gold", "cosine"]}}

    def __init__(self, name: str, filename: str, folder: str = "word_similarity", **params):
        self.name, self.filename, self.folder = name, filename, folder
        super().__init__(**params)
        self.rows: list[tuple[str, str, float]] = []

    def load(self, data_root: Path | None) -> DatasetRecord:
        folder = task_folder(data_root, self.name, self.folder, f"{self.folder}/{self.filename}")
        rec = DatasetRecord(path=str(folder))
        path = rec.add(folder / self.filename, folder)
        self.rows = [(c[0].strip(), c[1].strip(), as_float(c[2], path, n, "score"))
                     for n, c in read_tsv_rows(path, min_cols=3)]
        require_rows(self.rows, path, "word pairs")
        self.dataset = rec
        return rec

    def evaluate(self, model, index=None) -> TaskOutput:
        from .metrics.correlation import pearson, spearman
        w1 = [r[0] for r in self.rows]
        w2 = [r[1] for r in self.rows]
        gold = np.array([r[2] for r in self.rows])
        if hasattr(model, "lookup"):
            v1, f1 = model.lookup(w1)
            v2, f2 = model.lookup(w2)
            covered = f1 & f2
        else:
            vecs = model.encode(w1 + w2, role=None)
            v1, v2 = vecs[: len(w1)], vecs[len(w1):]
            covered = np.ones(len(w1), dtype=bool)
        covered &= np.any(v1, axis=1) & np.any(v2, axis=1)  # zero vectors have no cosine
        n = int(covered.sum())
        if n < 3:
            raise DataError(f"only {n} of {len(w1)} word pairs are in the model's vocabulary", self.filename)
        a, b = v1[covered].astype(np.float64), v2[covered].astype(np.float64)
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        oov = [f"{x}/{y}" for x, y, c in zip(w1, w2, covered) if not c]
        scores = {"spearman": spearman(gold[covered], cos), "pearson": pearson(gold[covered], cos),
                  "coverage": n / len(w1)}
        per_pair = np.full(len(w1), np.nan)
        per_pair[covered] = cos
        items = self.items_matrix(scores, {"gold": gold, "cosine": per_pair})
        return TaskOutput(scores=scores, details={"n_pairs": len(w1), "n_covered": n, "n_oov_pairs": len(oov),
                                                  "oov_pairs": oov[:50]}, sidecars={"items": items})


def wordsim353() -> WordSimilarityTask:
    return WordSimilarityTask("WordSim353", "wordsim353.tsv")


def simlex999() -> WordSimilarityTask:
    return WordSimilarityTask("SimLex999", "simlex999.txt")
