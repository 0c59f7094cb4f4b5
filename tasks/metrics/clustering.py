"""Clustering metrics and MTEB's two k-means protocols, as pure functions (methods.md §5.3).

- `legacy_assignments`: mteb's `ClusteringEvaluator` (AbsTaskClusteringLegacy): one
  `MiniBatchKMeans(n_clusters=#labels, batch_size=500, n_init="auto", random_state=seed)` on all rows.
- `bootstrap_clustering`: mteb's `_evaluate_clustering_bootstrapped` (AbsTaskClustering, the "v2"
  tasks): `n_bootstrap` draws of `sample_size` rows WITH replacement (`random.Random.choices`), each
  clustered by `MiniBatchKMeans(batch_size=512, init="k-means++", n_init=1, random_state=seed)`.
- `clustering_scores`: V-measure, NMI, ARI, AMI (scikit-learn; V-measure with beta=1 equals NMI with
  the arithmetic mean, both are reported because MTEB names them separately).
"""
from __future__ import annotations

import random
from typing import Sequence

import numpy as np

METRICS = ("v_measure", "nmi", "ari", "ami")


def clustering_scores(labels: Sequence, assignment: Sequence) -> dict[str, float]:
    from sklearn.metrics import (adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score,
                                 v_measure_score)
    return {"v_measure": float(v_measure_score(labels, assignment)),
            "nmi": float(normalized_mutual_info_score(labels, assignment)),
            "ari": float(adjusted_rand_score(labels, assignment)),
            "ami": float(adjusted_mutual_info_score(labels, assignment))}


def legacy_assignments(embeddings: np.ndarray, n_clusters: int, *, seed: int, batch_size: int = 500) -> np.ndarray:
    from sklearn.cluster import MiniBatchKMeans
    km = MiniBatchKMeans(n_clusters=n_clusters, batch_size=batch_size, n_init="auto", compute_labels=True,
                         random_state=seed)
    return km.fit(embeddings).labels_


def embed_subset(n_rows: int, *, seed: int, max_fraction: float | None = None,
                 max_documents: int | None = None) -> tuple[list[int] | None, random.Random]:
    """Rows the fast protocol embeds (None = all) and the RNG it then carries into the bootstrap.

    mteb draws the subset and the bootstrap samples from one `random.Random(seed)` (the task's
    `rng_state`), so the subset draw shifts the bootstrap draws; this keeps that sequence.
    """
    rng = random.Random(seed)
    if max_fraction is not None and max_documents is not None:
        raise ValueError("set at most one of max_fraction_to_embed and max_documents_to_embed")
    if max_fraction is None and max_documents is None:
        return None, rng
    k = int(max_fraction * n_rows) if max_fraction is not None else int(max_documents)
    return rng.sample(range(n_rows), k=min(n_rows, k)), rng


def bootstrap_clustering(embeddings: np.ndarray, labels: np.ndarray, *, n_bootstrap: int, sample_size: int,
                         seed: int, rng: random.Random | None = None, batch_size: int = 512
                         ) -> tuple[dict[str, list[float]], list[np.ndarray]]:
    """Per-bootstrap scores (every metric in METRICS) and the cluster assignments of each draw."""
    from sklearn.cluster import MiniBatchKMeans
    rng = rng if rng is not None else random.Random(seed)
    labels = np.asarray(labels)
    km = MiniBatchKMeans(n_clusters=np.unique(labels).size, batch_size=batch_size, init="k-means++", n_init=1,
                         random_state=seed)
    scores: dict[str, list[float]] = {m: [] for m in METRICS}
    assignments = []
    for _ in range(n_bootstrap):
        rows = rng.choices(range(len(embeddings)), k=sample_size)
        assignment = km.fit_predict(embeddings[rows])
        for m, v in clustering_scores(labels[rows], assignment).items():
            scores[m].append(v)
        assignments.append(assignment)
    return scores, assignments


def summarise(per_run: dict[str, list[float]]) -> dict[str, float]:
    """Mean and population std (ddof=0, as mteb) of each metric."""
    out = {}
    for m, values in per_run.items():
        out[m] = float(np.mean(values))
        out[f"{m}_std"] = float(np.std(values))
    return out
