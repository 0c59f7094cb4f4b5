"""Classification on embeddings: MTEB's logistic-regression protocol and a kNN probe (methods.md §5.2).

Logistic regression (`method="logreg"`, MTEB's protocol): `n_experiments` undersamplings of the
train split (`samples_per_label` rows per label, drawn as `metrics.classification.undersample`
describes), one `LogisticRegression(max_iter=100, random_state=seed)` fit per draw on the
embeddings, scored on the whole eval split; the report is the mean over experiments (per-experiment
scores are in `details`). Only the union of the drawn training rows is encoded, as mteb 2.x does.

kNN probe (`method="knn"`, no training): majority vote of the `k` nearest training rows under
cosine similarity (the registry's exact index). By default over the whole train split (one deterministic
experiment); set `samples_per_label` to use MTEB-style undersampled draws instead.

Data: `<root>/<folder>/{train,<split>}.jsonl`, rows `{text, <label_field>}` (label a string or an
integer). Classes are numbered in sorted label order (the numbering does not change any score: Banking77
and Emotion give the same ten accuracies in alphabetical, case-folded and the files' `label_id` order).
"""
from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from harness.data import DatasetRecord, hub_available, no_data_root_error, read_jsonl, require_dir, require_rows
from harness.errors import DataError, HarnessError

from . import params as check
from .base import Task, TaskOutput

METHODS = ("logreg", "knn")


class ClassificationWarning(UserWarning):
    """Input that is usable but not what the protocol assumes (e.g. too few rows of a label)."""


class LabelledSplit:
    """One split of a labelled text set: texts, labels, and for each label the line where it first appears."""

    def __init__(self, path: str, texts: list[str], labels: list, first_line: dict):
        self.path, self.texts, self.labels, self.first_line = path, texts, labels, first_line

    def __len__(self):
        return len(self.texts)


def read_labelled_split(path: Path, label_field: str = "label", text_field: str = "text") -> LabelledSplit:
    """Read `<split>.jsonl`; a missing or mistyped field is an error naming the file and line."""
    texts, labels, first_line = [], [], {}
    for lineno, row in read_jsonl(path, required=(text_field, label_field)):
        text, label = row[text_field], row[label_field]
        if not isinstance(text, str):
            raise DataError(f"field {text_field!r} is not a string: {text!r}", path, lineno)
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise DataError(f"field {label_field!r} must be a string or an integer, got {label!r}", path, lineno)
        texts.append(text)
        labels.append(label)
        first_line.setdefault(label, lineno)
    require_rows(texts, path, "rows")
    return LabelledSplit(str(path), texts, labels, first_line)


def class_ids(train: LabelledSplit, evals: LabelledSplit) -> tuple[np.ndarray, np.ndarray, list]:
    """Integer classes (sorted label order) for train and eval rows, plus the label of each class id.

    A label of the eval split that train lacks is an error naming it (a classifier can never predict it).
    """
    unknown = sorted(set(evals.labels) - set(train.labels), key=str)
    if unknown:
        where = ", ".join(f"{lab!r} (line {evals.first_line[lab]})" for lab in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise DataError(f"{len(unknown)} label(s) of this split never occur in the train split "
                        f"{train.path}: {where}{more}", evals.path)
    names = sorted(set(train.labels), key=lambda x: (type(x).__name__, x))  # str and int labels may mix
    mapping = {lab: i for i, lab in enumerate(names)}
    return (np.array([mapping[x] for x in train.labels], dtype=np.int64),
            np.array([mapping[x] for x in evals.labels], dtype=np.int64), names)


class ClassificationTask(Task):
    type = "classification"
    main_score = "accuracy"
    title = "Classification"
    ranked = True
    version = 1

    @property
    def item_scores(self) -> dict:
        """Accuracy from each eval sample's correctness (0/1) in each experiment, one column per experiment:
        the mean over experiments of per-experiment accuracy. (F1 and the other macro scores do not decompose
        over samples; they get no interval.)"""
        n = 1 if self.params["samples_per_label"] is None else int(self.params["n_experiments"])
        return {"accuracy": {"statistic": "mean_all", "columns": [f"correct_{e}" for e in range(n)]}}

    def __init__(self, name: str, folder: str, *, samples_per_label: int | None = 8, method: str = "logreg",
                 label_field: str = "label", split: str = "test", train_split: str = "train",
                 hub_id: str | None = None, hub_revision: str | None = None, **params):
        # constructor arguments set parameter defaults only: behaviour is read from self.params
        self.name, self.folder, self.split = name, folder, split
        self.hub_id, self.hub_revision = hub_id, hub_revision
        self._defaults = {"method": method, "samples_per_label": samples_per_label if method == "logreg" else None,
                          "label_field": label_field, "train_split": train_split}
        super().__init__(**params)
        self.train: LabelledSplit | None = None
        self.evals: LabelledSplit | None = None

    def default_params(self):
        # logreg reads samples_per_label, n_experiments, undersampling, max_iter; knn reads k, metric and,
        # when samples_per_label is set, the undersampling ones (None: the whole train split, one experiment)
        return {"batch_size": None, **self._defaults, "n_experiments": 10, "undersampling": "reseeded",
                "max_iter": 100, "k": 10, "metric": "cosine"}

    def check_params(self) -> None:
        """Parameter values, checked before any data or model is read."""
        from .metrics.classification import KNN_METRICS, UNDERSAMPLING_MODES
        method = check.choice(self, "method", METHODS)
        check.integer(self, "samples_per_label", optional=method == "knn")
        check.integer(self, "n_experiments")
        check.choice(self, "undersampling", UNDERSAMPLING_MODES)
        check.integer(self, "max_iter")
        check.integer(self, "k")
        check.choice(self, "metric", KNN_METRICS)
        check.integer(self, "batch_size", optional=True)
        for name in ("label_field", "train_split"):
            if not isinstance(self.params[name], str) or not self.params[name]:
                raise HarnessError(f"task {self.name}: parameter {name!r} must be a non-empty string, "
                                   f"got {self.params[name]!r}")

    # --- data
    def load(self, data_root: Path | None) -> DatasetRecord:
        self.check_params()
        if data_root is None:
            if not (self.hub_id and hub_available()):
                raise no_data_root_error(self.name, self.folder)
            return self.load_hub()
        folder = require_dir(Path(data_root) / self.folder, f"{self.name} data")
        rec = DatasetRecord(path=str(folder))
        label_field, train_split = self.params["label_field"], self.params["train_split"]
        self.train = read_labelled_split(rec.add(folder / f"{train_split}.jsonl", folder), label_field)
        self.evals = read_labelled_split(rec.add(folder / f"{self.split}.jsonl", folder), label_field)
        self.check_labels()  # fail before any model is loaded
        self.dataset = rec
        return rec

    def load_hub(self) -> DatasetRecord:
        """The real loader: mteb's copy on the Hugging Face hub (`text`, integer `label`) at its pinned revision."""
        import datasets
        splits = {}
        train_split = self.params["train_split"]
        for split in (train_split, self.split):
            ds = datasets.load_dataset(self.hub_id, revision=self.hub_revision, split=split)
            missing = [c for c in ("text", "label") if c not in ds.column_names]
            if missing:
                raise DataError(f"dataset has no column(s) {missing}; columns: {ds.column_names}", self.hub_id)
            labels = list(ds["label"])
            first = {}
            for i, lab in enumerate(labels):
                first.setdefault(lab, i + 1)
            splits[split] = LabelledSplit(f"{self.hub_id}:{split}", list(ds["text"]), labels, first)
        self.train, self.evals = splits[train_split], splits[self.split]
        self.check_labels()
        self.dataset = DatasetRecord(path=self.hub_id, sha256={"revision": self.hub_revision or "main"}, source="hub")
        return self.dataset

    def check_labels(self) -> tuple[np.ndarray, np.ndarray, list]:
        """Class ids of train and eval rows; raises on labels no classifier can use."""
        y_train, y_eval, names = class_ids(self.train, self.evals)
        if len(names) < 2:
            raise DataError(f"the train split has a single label ({self.train.labels[0]!r}); a classifier needs "
                            "at least two", self.train.path)
        return y_train, y_eval, names

    def check_inputs(self) -> tuple[np.ndarray, np.ndarray, list, list[str]]:
        """Class ids and the warnings to report (they depend on the final params, so run at evaluate)."""
        y_train, y_eval, names = self.check_labels()
        notes = []
        if len(set(self.evals.labels)) < 2:
            notes.append(f"the {self.split} split has a single label ({self.evals.labels[0]!r}); macro scores "
                         "describe that one class only")
        spl = self.params["samples_per_label"]
        if spl is not None:
            counts = Counter(self.train.labels)
            short = sorted(((lab, c) for lab, c in counts.items() if c < spl), key=lambda t: (t[1], str(t[0])))
            if short:
                listed = ", ".join(f"{lab!r}: {c}" for lab, c in short[:10])
                more = f" (and {len(short) - 10} more)" if len(short) > 10 else ""
                notes.append(f"{len(short)} label(s) have fewer than samples_per_label={spl} train rows; every "
                             f"experiment uses all of their rows instead: {listed}{more}")
        for note in notes:
            warnings.warn(f"{self.name}: {note}", ClassificationWarning, stacklevel=2)
        return y_train, y_eval, names, notes

    # --- evaluation
    def experiment_rows(self) -> list:
        """Train rows of each experiment: undersampled per label (seeded), or the whole split (knn only)."""
        from .metrics.classification import undersample
        p = self.params
        if p["samples_per_label"] is None:   # knn only (check_params): one deterministic experiment
            return [list(range(len(self.train)))]
        return undersample(self.train.labels, int(p["samples_per_label"]), int(p["n_experiments"]), self.seed,
                           mode=p["undersampling"])

    def texts_to_encode(self) -> list[tuple[None, list[str]]]:
        """What `evaluate` encodes (the train rows some experiment uses, then the eval split), for sharded
        encoding ahead of the job (harness/sharding.py)."""
        self.check_params()
        union = sorted(set().union(*self.experiment_rows()))
        return [(None, [self.train.texts[i] for i in union] + list(self.evals.texts))]

    def evaluate(self, model, index=None) -> TaskOutput:
        from .metrics.classification import classification_scores, knn_predict, logreg_predict, mean_scores
        p = self.params
        y_train, y_eval, names, notes = self.check_inputs()
        self.check_params()
        draws = self.experiment_rows()
        union = sorted(set().union(*draws))
        x_union = model.encode([self.train.texts[i] for i in union], role=None, batch_size=p["batch_size"])
        x_eval = model.encode(self.evals.texts, role=None, batch_size=p["batch_size"])
        pos = np.full(len(self.train), -1, dtype=np.int64)
        pos[union] = np.arange(len(union))

        per_experiment, correct = [], {}
        for rows in draws:
            x_train = x_union[pos[rows]]
            if p["method"] == "logreg":
                pred = logreg_predict(x_train, y_train[rows], x_eval, seed=self.seed, max_iter=int(p["max_iter"]))
            else:
                pred = knn_predict(x_train, y_train[rows], x_eval, k=int(p["k"]), metric=p["metric"])
            per_experiment.append(classification_scores(y_eval, pred))
            correct[f"correct_{len(correct)}"] = np.asarray(pred) == y_eval
        scores = mean_scores(per_experiment)
        details = {"method": p["method"], "n_train": len(self.train), "n_eval": len(self.evals), "n_labels": len(names),
                   "n_experiments": len(draws), "n_train_rows_encoded": len(union),
                   "train_rows_per_experiment": [len(r) for r in draws],
                   "scores_per_experiment": per_experiment, "warnings": notes}
        return TaskOutput(scores=scores, details=details, sidecars={"items": self.items_matrix(scores, correct)})


# Registry factories (MTEB names; hub ids and revisions as mteb 2.26.24 pins them)
_BANKING77 = dict(folder="banking77", samples_per_label=8, hub_id="mteb/banking77",
                  hub_revision="0fd18e25b25c072e09e0d92ab615fda904d66300")
_EMOTION = dict(folder="emotion", samples_per_label=16, hub_id="mteb/emotion",
                hub_revision="4f58c6b202a23cf9a4da393831edf4f9183cad37")
_TREC = dict(folder="trec", samples_per_label=8)  # coarse labels (6); not an MTEB task


def banking77() -> ClassificationTask:
    return ClassificationTask("Banking77Classification", **_BANKING77)


def emotion() -> ClassificationTask:
    return ClassificationTask("EmotionClassification", **_EMOTION)


def trec() -> ClassificationTask:
    return ClassificationTask("TRECClassification", **_TREC)


def banking77_knn() -> ClassificationTask:
    return ClassificationTask("Banking77Classification-kNN", method="knn", **_BANKING77)


def emotion_knn() -> ClassificationTask:
    return ClassificationTask("EmotionClassification-kNN", method="knn", **_EMOTION)


def trec_knn() -> ClassificationTask:
    return ClassificationTask("TRECClassification-kNN", method="knn", **_TREC)
