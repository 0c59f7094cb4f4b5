"""mteb 2.x run locally on our files and our cached vectors (for parity tests and bench/clustering.py).

mteb's built-in tasks need the Hugging Face hub, so these subclass its abstract tasks and override
`load_data` (environment.md §3) with `local_task_metadata`. `cached_vectors_encoder` (for
`mteb.evaluate`, passing the query/document role) and `VectorModel` (for `task.evaluate`) are mteb encoders that answers every `encode` call
with the vectors our `CachedModel` holds for those texts, so both sides score identical embeddings.
"""
from __future__ import annotations

import numpy as np

COMMON = dict(description="local task", reference="https://example.org/local",
              dataset={"path": "local/none", "revision": "local"}, category="t2t", eval_splits=["test"],
              eval_langs=["eng-Latn"], date=("2026-01-01", "2026-01-01"), dialect=[], domains=[],
              task_subtypes=[], license="cc-by-4.0", annotations_creators="derived", modalities=["text"],
              sample_creation="found", bibtex_citation="")


def local_task_metadata(name: str, type_: str, main_score: str, **overrides):
    from mteb.abstasks.task_metadata import TaskMetadata
    return TaskMetadata(name=name, type=type_, main_score=main_score, **{**COMMON, **overrides})


def cached_vectors_encoder(model):
    """An mteb AbsEncoder returning `model.encode(texts, role=...)` for every batch of texts."""
    from mteb.models.abs_encoder import AbsEncoder
    from mteb.models.model_meta import ModelMeta

    class CachedVectorsEncoder(AbsEncoder):
        def __init__(self):
            self.model = None
            self.mteb_model_meta = ModelMeta.create_empty()
            self.calls = 0

        def encode(self, inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs):
            texts = [t for batch in inputs for t in batch["text"]]
            self.calls += 1
            role = None if prompt_type is None else getattr(prompt_type, "value", str(prompt_type))
            return np.asarray(model.encode(texts, role=role), dtype=np.float32)

    return CachedVectorsEncoder()


def run_mteb(task, encoder) -> dict:
    """Scores dict of split "test", first subset, as mteb stores it."""
    import mteb
    res = mteb.evaluate(encoder, [task], cache=None, encode_kwargs={"batch_size": 32}, show_progress_bar=False,
                        overwrite_strategy="always")
    return res.task_results[0].scores["test"][0]


class VectorModel:
    """An mteb `EncoderProtocol` that looks vectors up instead of running a network."""

    def __init__(self, model):
        self.model = model  # anything with encode(texts, role=..., batch_size=...)
        self.calls = 0

    def encode(self, inputs, *, task_metadata=None, hf_split=None, hf_subset=None, prompt_type=None, **kwargs):
        texts = [t for batch in inputs for t in batch["text"]]
        self.calls += 1
        return self.model.encode(texts, role=None)

    def similarity(self, a, b):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        return a @ b.T

    def similarity_pairwise(self, a, b):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))

    @property
    def mteb_model_meta(self):
        return None


def classification_task(train_texts, train_labels, test_texts, test_labels, *, samples_per_label: int,
                        n_experiments: int = 10, seed: int = 42, name: str = "LocalClassification"):
    """An mteb AbsTaskClassification over the given rows (labels as integer class ids)."""
    from datasets import Dataset, DatasetDict
    from mteb.abstasks.classification import AbsTaskClassification
    from mteb.abstasks.task_metadata import TaskMetadata

    class LocalClassification(AbsTaskClassification):
        metadata = TaskMetadata(name=name, type="Classification", main_score="accuracy", **COMMON)

        def load_data(self, num_proc=None, **kw):
            self.dataset = DatasetDict({
                "train": Dataset.from_dict({"text": list(train_texts), "label": [int(x) for x in train_labels]}),
                "test": Dataset.from_dict({"text": list(test_texts), "label": [int(x) for x in test_labels]})})
            self.data_loaded = True

    task = LocalClassification(seed=seed)
    task.samples_per_label, task.n_experiments = samples_per_label, n_experiments
    return task


def clustering_legacy_task(texts, labels, name: str = "LocalClusteringLegacy"):
    """mteb AbsTaskClusteringLegacy with the whole split as its one cluster set."""
    from datasets import Dataset, DatasetDict
    from mteb.abstasks.clustering_legacy import AbsTaskClusteringLegacy
    from mteb.abstasks.task_metadata import TaskMetadata

    class LocalClusteringLegacy(AbsTaskClusteringLegacy):
        metadata = TaskMetadata(name=name, type="Clustering", main_score="v_measure", **COMMON)

        def load_data(self, num_proc=None, **kw):
            self.dataset = DatasetDict({"test": Dataset.from_dict({"sentences": [list(texts)],
                                                                  "labels": [list(labels)]})})
            self.data_loaded = True

    return LocalClusteringLegacy()


def clustering_fast_task(texts, labels, *, n_bootstrap: int = 10, sample_size: int = 16384,
                         max_fraction=None, max_documents=None, name: str = "LocalClusteringFast"):
    """mteb AbsTaskClustering (the bootstrapped "v2" protocol) over the rows."""
    from datasets import Dataset, DatasetDict
    from mteb.abstasks.clustering import AbsTaskClustering
    from mteb.abstasks.task_metadata import TaskMetadata

    class LocalClusteringFast(AbsTaskClustering):
        metadata = TaskMetadata(name=name, type="Clustering", main_score="v_measure", **COMMON)
        max_fraction_of_documents_to_embed = max_fraction
        max_document_to_embed = max_documents
        max_documents_per_cluster = sample_size
        n_clusters = n_bootstrap

        def load_data(self, num_proc=None, **kw):
            self.dataset = DatasetDict({"test": Dataset.from_dict({"sentences": list(texts),
                                                                  "labels": list(labels)})})
            self.data_loaded = True

    return LocalClusteringFast()


def run(task, model, split: str = "test") -> dict:
    """Scores of one mteb task on `model` (a VectorModel), default subset."""
    return task.evaluate(model, split=split, encode_kwargs={"batch_size": 32})["default"]
