"""Clustering of labelled text sets with MTEB's two k-means protocols (methods.md §5.3).

`protocol="legacy"` (mteb `AbsTaskClusteringLegacy`): the whole split is one cluster set;
`MiniBatchKMeans(n_clusters=#labels, batch_size=500, n_init="auto", random_state=seed)` on all its
embeddings. `protocol="fast"` (mteb `AbsTaskClustering`, the ".v2" tasks): `n_bootstrap` draws of
`sample_size` rows with replacement, each clustered by `MiniBatchKMeans(batch_size=512,
init="k-means++", n_init=1, random_state=seed)`; the report is the mean (and ddof=0 std) over draws.
Unlike mteb's default (4% of the split), the fast protocol embeds the whole split unless
`max_fraction_to_embed` or `max_documents_to_embed` is set: our sets are small.

Scores: V-measure (main), NMI, ARI, AMI against the gold labels. The legacy protocol stores the
cluster assignment of every row as the sidecar `assignments`.

Data: `<root>/<folder>/<split>.jsonl`, rows `{text, <label_field>}`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.data import DatasetRecord, task_folder
from harness.errors import DataError, HarnessError

from . import params as check
from .base import Task, TaskOutput
from .classification import LabelledSplit, read_labelled_split

PROTOCOLS = ("legacy", "fast")


class ClusteringTask(Task):
    type = "clustering"
    main_score = "v_measure"
    title = "Clustering"
    ranked = True
    version = 1

    @property
    def item_scores(self) -> dict:
        """Fast protocol: one item per bootstrap draw, each metric the mean of its column (as reported).
        Legacy protocol (one cluster set): one item per document, its gold label and assigned cluster as
        integer codes; V-measure recomputed on resampled documents (the clustering held fixed)."""
        from .metrics.clustering import METRICS
        if self.params["protocol"] == "fast":
            return {m: {"statistic": "mean", "columns": [m]} for m in METRICS}
        return {"v_measure": {"statistic": "v_measure", "columns": ["label", "cluster"]}}

    def __init__(self, name: str, folder: str, *, label_field: str = "label", split: str = "test",
                 protocol: str = "legacy", **params):
        self.name, self.folder, self.split = name, folder, split
        self._label_field, self._protocol = label_field, protocol   # defaults of the params of that name
        super().__init__(**params)
        self.data: LabelledSplit | None = None

    def default_params(self):
        return {"protocol": self._protocol, "label_field": self._label_field, "batch_size": None,
                # legacy protocol
                "legacy_kmeans_batch_size": 500,
                # fast (bootstrapped) protocol, mteb AbsTaskClustering defaults except the embedded fraction
                "n_bootstrap": 10, "sample_size": 16384, "fast_kmeans_batch_size": 512,
                "max_fraction_to_embed": None, "max_documents_to_embed": None}

    def check_params(self) -> None:
        """Parameter values, checked before any data or model is read."""
        check.choice(self, "protocol", PROTOCOLS)
        for name in ("legacy_kmeans_batch_size", "n_bootstrap", "sample_size", "fast_kmeans_batch_size"):
            check.integer(self, name)
        check.integer(self, "batch_size", optional=True)
        check.number(self, "max_fraction_to_embed", 0.0, 1.0, optional=True)
        check.integer(self, "max_documents_to_embed", optional=True)
        if self.params["max_fraction_to_embed"] is not None and self.params["max_documents_to_embed"] is not None:
            raise HarnessError(f"task {self.name}: set at most one of max_fraction_to_embed and "
                               "max_documents_to_embed")
        if not isinstance(self.params["label_field"], str) or not self.params["label_field"]:
            raise HarnessError(f"task {self.name}: parameter 'label_field' must be a non-empty string, "
                               f"got {self.params['label_field']!r}")

    def load(self, data_root: Path | None) -> DatasetRecord:
        self.check_params()
        folder = task_folder(data_root, self.name, self.folder, f"{self.folder}/{self.split}.jsonl")
        rec = DatasetRecord(path=str(folder))
        self.data = read_labelled_split(rec.add(folder / f"{self.split}.jsonl", folder), self.params["label_field"])
        if len(set(self.data.labels)) < 2:
            raise DataError(f"the {self.split} split has a single label ({self.data.labels[0]!r}); clustering "
                            "against one class is meaningless (mteb would score it 1.0)", self.data.path)
        self.dataset = rec
        return rec

    def texts_to_encode(self) -> list[tuple[None, list[str]]]:
        """What `evaluate` encodes (every row, or the fast protocol's seeded subset), for sharded encoding
        ahead of the job (harness/sharding.py)."""
        from .metrics.clustering import embed_subset
        self.check_params()
        p = self.params
        rows = None
        if p["protocol"] != "legacy":
            rows, _ = embed_subset(len(self.data), seed=self.seed, max_fraction=p["max_fraction_to_embed"],
                                   max_documents=p["max_documents_to_embed"])
        return [(None, list(self.data.texts) if rows is None else [self.data.texts[i] for i in rows])]

    def evaluate(self, model, index=None) -> TaskOutput:
        self.check_params()
        if self.params["protocol"] == "legacy":
            return self._evaluate_legacy(model)
        return self._evaluate_fast(model)

    def _evaluate_legacy(self, model) -> TaskOutput:
        from .metrics.clustering import clustering_scores, legacy_assignments
        p = self.params
        n_clusters = len(set(self.data.labels))
        emb = model.encode(self.data.texts, role=None, batch_size=p["batch_size"])
        assignment = legacy_assignments(emb, n_clusters, seed=self.seed,
                                        batch_size=int(p["legacy_kmeans_batch_size"]))
        scores = clustering_scores(self.data.labels, assignment)
        scores["v_measure_std"] = 0.0  # one cluster set (mteb reports the std over sets)
        _, label_codes = np.unique(np.asarray(self.data.labels), return_inverse=True)
        items = self.items_matrix(scores, {"label": label_codes, "cluster": assignment})
        return TaskOutput(scores=scores, details={"n_rows": len(self.data), "n_clusters": n_clusters,
                                                  "protocol": "legacy"},
                          sidecars={"assignments": np.asarray(assignment, dtype=np.int32), "items": items})

    def _evaluate_fast(self, model) -> TaskOutput:
        from .metrics.clustering import bootstrap_clustering, embed_subset, summarise
        p = self.params
        rows, rng = embed_subset(len(self.data), seed=self.seed, max_fraction=p["max_fraction_to_embed"],
                                 max_documents=p["max_documents_to_embed"])
        rows = list(range(len(self.data))) if rows is None else rows
        labels = np.array([str(self.data.labels[i]) for i in rows])
        if np.unique(labels).size < 2:
            raise DataError(f"the {len(rows)} embedded rows hold a single label; embed more rows "
                            "(max_fraction_to_embed / max_documents_to_embed)", self.data.path)
        if int(p["sample_size"]) < np.unique(labels).size:
            raise HarnessError(f"task {self.name}: sample_size={p['sample_size']} is below the number of labels "
                               f"({np.unique(labels).size})")
        emb = model.encode([self.data.texts[i] for i in rows], role=None, batch_size=p["batch_size"])
        per_draw, _ = bootstrap_clustering(emb, labels, n_bootstrap=int(p["n_bootstrap"]),
                                           sample_size=int(p["sample_size"]), seed=self.seed, rng=rng,
                                           batch_size=int(p["fast_kmeans_batch_size"]))
        scores = summarise(per_draw)
        return TaskOutput(scores=scores,
                          details={"n_rows": len(self.data), "n_embedded": len(rows),
                                   "n_clusters": int(np.unique(labels).size), "protocol": "fast",
                                   "scores_per_draw": per_draw},
                          sidecars={"items": self.items_matrix(scores, per_draw)})


# Registry factories. `<Name>` runs the legacy protocol, `<Name>.v2` the fast one (MTEB's naming).
_SETS = {"Banking77Clustering": dict(folder="banking77"),
         "EmotionClustering": dict(folder="emotion"),
         "TRECCoarseClustering": dict(folder="trec"),
         "TRECFineClustering": dict(folder="trec", label_field="label_fine"),
         "AGNewsClustering": dict(folder="ag_news")}


def make(name: str, protocol: str = "legacy") -> ClusteringTask:
    return ClusteringTask(name + (".v2" if protocol == "fast" else ""), protocol=protocol, **_SETS[name])


def banking77() -> ClusteringTask:
    return make("Banking77Clustering")


def banking77_v2() -> ClusteringTask:
    return make("Banking77Clustering", "fast")


def emotion() -> ClusteringTask:
    return make("EmotionClustering")


def emotion_v2() -> ClusteringTask:
    return make("EmotionClustering", "fast")


def trec_coarse() -> ClusteringTask:
    return make("TRECCoarseClustering")


def trec_coarse_v2() -> ClusteringTask:
    return make("TRECCoarseClustering", "fast")


def trec_fine() -> ClusteringTask:
    return make("TRECFineClustering")


def trec_fine_v2() -> ClusteringTask:
    return make("TRECFineClustering", "fast")


def ag_news() -> ClusteringTask:
    return make("AGNewsClustering")


def ag_news_v2() -> ClusteringTask:
    return make("AGNewsClustering", "fast")
