"""A toy task of a type the harness has never seen, written the way a user adds one: this file plus one
registry line (on import, as a `$HARNESS_PLUGINS` module). Nothing under harness/ knows the type
"toy-pair-classification": the task declares its title, that it is ranked, how each score is gated
and read, and the report and the gate take all of that from the result files.

Pair classification in MTEB's manner, reduced: is the pair a paraphrase (label 1) or not (0)? The
cosine similarity of the two embeddings is the classifier's score; `ap` is its average precision
(scikit-learn), `max_accuracy` the best accuracy over every threshold. Data:
`<data root>/toy_pairs/test.jsonl` rows {sentence1, sentence2, label}.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness import registry
from harness.data import DatasetRecord, read_jsonl, require_rows, task_folder
from harness.errors import DataError
from harness.vectors import unit_rows
from tasks.base import HIGHER, ScoreRule, Task, TaskOutput


class ToyPairClassification(Task):
    name = "ToyPairs"
    type = "toy-pair-classification"
    main_score = "ap"
    title = "Toy pair classification"
    ranked = True
    score_rules = (ScoreRule("ap", HIGHER, 0.01), ScoreRule("max_accuracy", HIGHER, 0.01))

    def default_params(self):
        return {"batch_size": None}

    def load(self, data_root: Path | None) -> DatasetRecord:
        folder = task_folder(data_root, self.name, "toy_pairs", "toy_pairs/test.jsonl")
        rec = DatasetRecord(path=str(folder))
        path = rec.add(folder / "test.jsonl", folder)
        self.pairs = []
        for lineno, row in read_jsonl(path, required=("sentence1", "sentence2", "label")):
            if row["label"] not in (0, 1):
                raise DataError(f"field 'label' must be 0 or 1, got {row['label']!r}", path, lineno)
            self.pairs.append((row["sentence1"], row["sentence2"], int(row["label"])))
        require_rows(self.pairs, path, "pairs")
        self.dataset = rec
        return rec

    def evaluate(self, model, index=None) -> TaskOutput:
        from sklearn.metrics import average_precision_score
        s1, s2, labels = (list(c) for c in zip(*self.pairs))
        emb = model.encode(s1 + s2, role=None, batch_size=self.params["batch_size"])
        e = unit_rows(emb, f"{model.meta.get('name')} pair embeddings")
        cos = (e[: len(s1)] * e[len(s1):]).sum(axis=1).astype(np.float64)
        y = np.asarray(labels)
        order = np.argsort(-cos, kind="stable")
        # predicting "paraphrase" for the top t pairs, t = 0..n: correct = positives above + negatives below
        tp = np.concatenate([[0], np.cumsum(y[order])])
        tn = (y == 0).sum() - np.concatenate([[0], np.cumsum(1 - y[order])])
        scores = {"ap": float(average_precision_score(y, cos)), "max_accuracy": float((tp + tn).max() / len(y))}
        return TaskOutput(scores=scores, details={"n_pairs": len(y), "n_positive": int(y.sum())})


registry.TASKS["ToyPairs"] = "tests.toy_pair_task:ToyPairClassification"
