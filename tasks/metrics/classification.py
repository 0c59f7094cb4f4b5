"""Classification metrics and MTEB's undersampling, as pure functions (no I/O, no models).

`undersample` reproduces MTEB's training-set draws (methods.md §5.2); `classification_scores` is
mteb 2.x's `AbsTaskClassification._calculate_scores`; `logreg_predict` and `knn_predict` are the two
probes. Everything takes arrays and returns arrays or dicts of floats.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

UNDERSAMPLING_MODES = ("reseeded", "global")
KNN_METRICS = ("cosine", "euclidean")


def undersample(labels: Sequence, samples_per_label: int, n_experiments: int, seed: int,
                mode: str = "reseeded") -> list[list[int]]:
    """Training-row indices for each experiment, in MTEB's order (the order matters to lbfgs).

    Start from `idxs = list(range(n))`; per experiment shuffle the carried-over list in place, then
    walk it keeping the first `samples_per_label` rows of each label.

    - "reseeded" (default): every shuffle uses a fresh `np.random.RandomState(seed)`. This is mteb
      2.x's code, and also what mteb 1.x effectively did (its `np.random.shuffle` ran on the global
      RNG, which each experiment's evaluator re-seeded with 42 just before the next shuffle). It
      reproduces the published MiniLM numbers (Banking77 0.8004220779220779, Emotion 0.4083).
    - "global": one `RandomState(seed)` for all experiments (a literal reading of "seed 42 set once");
      it does not reproduce them (Banking77 0.79656).
    """
    if mode not in UNDERSAMPLING_MODES:
        raise ValueError(f"unknown undersampling mode {mode!r}; valid: {', '.join(UNDERSAMPLING_MODES)}")
    idxs = list(range(len(labels)))
    shared = np.random.RandomState(seed)
    draws = []
    for _ in range(n_experiments):
        rng = np.random.RandomState(seed) if mode == "reseeded" else shared
        rng.shuffle(idxs)
        taken: dict = defaultdict(int)
        picked = []
        for i in idxs:
            if taken[labels[i]] < samples_per_label:
                picked.append(i)
                taken[labels[i]] += 1
        draws.append(picked)
    return draws


def classification_scores(y_true, y_pred) -> dict[str, float]:
    """Accuracy, macro/weighted F1, precision, recall; for two classes in `y_true`, AP from hard labels.

    Same calls as mteb 2.x (sklearn defaults, so zero-division gives 0 with a warning). AP keys are
    absent (not NaN) for multi-class tasks, so result files stay strict JSON.
    """
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score, precision_score, recall_score
    out = {"accuracy": accuracy_score(y_true, y_pred),
           "f1": f1_score(y_true, y_pred, average="macro"),
           "f1_weighted": f1_score(y_true, y_pred, average="weighted"),
           "precision": precision_score(y_true, y_pred, average="macro"),
           "precision_weighted": precision_score(y_true, y_pred, average="weighted"),
           "recall": recall_score(y_true, y_pred, average="macro"),
           "recall_weighted": recall_score(y_true, y_pred, average="weighted")}
    if len(np.unique(y_true)) == 2:
        out["ap"] = average_precision_score(y_true, y_pred, average="macro")
        out["ap_weighted"] = average_precision_score(y_true, y_pred, average="weighted")
    return {k: float(v) for k, v in out.items()}


def mean_scores(per_experiment: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over experiments (np.mean, as mteb), plus its population std as `<k>_std`."""
    keys = per_experiment[0].keys()
    out = {k: float(np.mean([s[k] for s in per_experiment])) for k in keys}
    out.update({f"{k}_std": float(np.std([s[k] for s in per_experiment])) for k in keys})
    return out


def logreg_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *, seed: int,
                   max_iter: int = 100) -> np.ndarray:
    """`LogisticRegression(max_iter, random_state=seed)` (sklearn defaults otherwise), as mteb fits it."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    clf = LogisticRegression(max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():  # max_iter=100 rarely converges; that is the protocol, not a fault
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_train, y_train)
    return clf.predict(x_test)


def knn_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *, k: int,
                metric: str = "cosine") -> np.ndarray:
    """Majority vote of the k nearest training rows (the registry's exact index, float32).

    Ties between labels go to the smallest label, as scikit-learn's `KNeighborsClassifier`
    (uniform weights) breaks them. `metric`: "cosine" (inner product of L2-normalised rows; a zero
    vector is an error naming its row) or "euclidean". `y_train` must hold integer class ids 0..C-1.
    """
    from harness.registry import make_index
    if metric not in KNN_METRICS:
        raise ValueError(f"unknown kNN metric {metric!r}; valid: {', '.join(KNN_METRICS)}")
    k = min(int(k), len(x_train))
    index = make_index("exact", metric="cosine" if metric == "cosine" else "l2").build(x_train)
    nn, _ = index.search(x_test, k)
    votes = np.zeros((len(nn), int(y_train.max()) + 1), dtype=np.int64)
    np.add.at(votes, (np.repeat(np.arange(len(nn)), k), y_train[nn].ravel()), 1)
    return votes.argmax(axis=1)  # argmax returns the first (smallest) label among ties
