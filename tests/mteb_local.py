"""mteb 2.x run locally on our files and our cached vectors (for parity tests and bench/clustering.py).

mteb's built-in tasks need the Hugging Face hub, so these subclass its abstract tasks and override
`load_data` (environment.md §3) with `local_task_metadata`. The model side is the product's own
`as_mteb_encoder` (adapters/models/mteb_encoder.py): every `encode` call is answered with the vectors
our `CachedModel` holds for those texts (role from mteb's prompt type), so both sides score identical
embeddings. `cached_vectors_encoder` (for `mteb.evaluate`) and `VectorModel` (for `task.evaluate`) are
kept as names for it.
"""
from __future__ import annotations

import random

COMMON = dict(description="local task", reference="https://example.org/local",
              dataset={"path": "local/none", "revision": "local"}, category="t2t", eval_splits=["test"],
              eval_langs=["eng-Latn"], date=("2026-01-01", "2026-01-01"), dialect=[], domains=[],
              task_subtypes=[], license="cc-by-4.0", annotations_creators="derived", modalities=["text"],
              sample_creation="found", bibtex_citation="")


def local_task_metadata(name: str, type_: str, main_score: str, **overrides):
    from mteb.abstasks.task_metadata import TaskMetadata
    return TaskMetadata(name=name, type=type_, main_score=main_score, **{**COMMON, **overrides})


def cached_vectors_encoder(model):
    """An mteb encoder answering every `encode` with `model.encode(texts, role=...)` (a CachedModel keeps
    its cache; a plain adapter gets none, so test doubles never write to the shared cache)."""
    from adapters.models.mteb_encoder import as_mteb_encoder
    return as_mteb_encoder(model, cache=False)


VectorModel = cached_vectors_encoder


def run_mteb(task, encoder) -> dict:
    """Scores dict of split "test", first subset, as mteb stores it."""
    import mteb
    res = mteb.evaluate(encoder, [task], cache=None, encode_kwargs={"batch_size": 32}, show_progress_bar=False,
                        overwrite_strategy="always", co2_tracker=False)
    return res.task_results[0].scores["test"][0]


def sts_task(s1, s2, scores, *, name: str = "LocalSTS", min_score: float = 0, max_score: float = 5):
    """An mteb AbsTaskSTS over the pairs."""
    from datasets import Dataset, DatasetDict
    from mteb.abstasks.sts import AbsTaskSTS

    class LocalSTS(AbsTaskSTS):
        metadata = local_task_metadata(name, "STS", "cosine_spearman")

        def load_data(self, num_proc=None, **kw):
            self.dataset = DatasetDict({"test": Dataset.from_dict(
                {"sentence1": list(s1), "sentence2": list(s2), "score": [float(x) for x in scores]})})
            self.data_loaded = True

    LocalSTS.min_score, LocalSTS.max_score = min_score, max_score
    return LocalSTS


def pair_classification_task(s1, s2, labels, *, name: str = "LocalPairClassification"):
    """An mteb AbsTaskPairClassification over the pairs (labels 0/1)."""
    from datasets import Dataset, DatasetDict
    from mteb.abstasks.pair_classification import AbsTaskPairClassification

    class LocalPairClassification(AbsTaskPairClassification):
        metadata = local_task_metadata(name, "PairClassification", "max_ap")

        def load_data(self, num_proc=None, **kw):
            self.dataset = DatasetDict({"test": Dataset.from_dict(
                {"sentence1": list(s1), "sentence2": list(s2), "labels": [int(x) for x in labels]})})
            self.data_loaded = True

    return LocalPairClassification


def retrieval_task(corpus: dict, queries: dict, qrels: dict, *, name: str = "LocalRetrieval",
                   top_ranked: dict | None = None):
    """An mteb AbsTaskRetrieval (or, with `top_ranked` {qid: [doc ids]}, a Reranking task on the same class,
    as mteb 2.x defines reranking). corpus {id: (title, text)}, queries {id: text}, qrels {qid: {did: grade}}."""
    from datasets import Dataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData

    kind, main = ("Reranking", "map_at_1000") if top_ranked is not None else ("Retrieval", "ndcg_at_10")

    class LocalRetrieval(AbsTaskRetrieval):
        metadata = local_task_metadata(name, kind, main)

        def load_data(self, num_proc=None, **kw):
            docs = [{"id": d, "title": t, "text": x} for d, (t, x) in corpus.items()]
            qs = [{"id": q, "text": x} for q, x in queries.items()]
            self.dataset = {"default": {"test": RetrievalSplitData(
                corpus=Dataset.from_list(docs), queries=Dataset.from_list(qs),
                relevant_docs={q: dict(r) for q, r in qrels.items()},
                top_ranked=None if top_ranked is None else {q: list(v) for q, v in top_ranked.items()})}}
            self.data_loaded = True

    return LocalRetrieval


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


# Four topic vocabularies: sentences of one topic share words, so every task type has a non-trivial score
TOPICS = {"animals": "cat dog bird fish horse cow sheep goat", "weather": "rain sun cloud wind snow storm fog frost",
          "food": "bread milk tea cheese apple rice soup cake", "travel": "car road train plane ship bus map ticket"}
NAMES = list(TOPICS)


def topic_tasks() -> dict:
    """Six local mteb task classes on sentences drawn from four topic vocabularies (deterministic)."""
    rng = random.Random(7)
    every = " ".join(TOPICS.values()).split()

    def sentence(topic: int) -> str:
        return " ".join(rng.sample(TOPICS[NAMES[topic % 4]].split(), 4) + rng.choices(every, k=1))

    pairs = [(i % 4, i % 2 == 0) for i in range(24)]
    s1 = [sentence(t) for t, _ in pairs]
    s2 = [sentence(t if same else t + 1) for t, same in pairs]
    sts_gold = [4 + rng.random() if same else 1.5 * rng.random() for _, same in pairs]
    train = [(sentence(t), t) for t in range(4) for _ in range(8)]
    test = [(sentence(t), t) for t in range(4) for _ in range(5)]
    docs = {f"d{i}": (f"{NAMES[i % 4]} notes", sentence(i)) for i in range(24)}
    queries = {f"q{i}": sentence(i) for i in range(8)}
    qrels = {f"q{i}": {f"d{j}": 2 if j == i else 1 for j in range(24) if j % 4 == i % 4} for i in range(8)}
    top = {q: list(dict.fromkeys([d for d in docs if int(d[1:]) % 4 == int(q[1:]) % 4]
                                 + [f"d{(int(q[1:]) + k) % 24}" for k in (1, 2, 3)])) for q in queries}
    return {
        "InteropSTS": sts_task(s1, s2, sts_gold, name="InteropSTS"),
        "InteropPairClassification": pair_classification_task(
            s1, s2, [int(same) for _, same in pairs], name="InteropPairClassification"),
        "InteropClassification": type(classification_task(
            [t for t, _ in train], [y for _, y in train], [t for t, _ in test], [y for _, y in test],
            samples_per_label=6, n_experiments=3, name="InteropClassification")),
        "InteropClustering": type(clustering_fast_task([t for t, _ in train], [NAMES[y] for _, y in train],
                                                       n_bootstrap=4, sample_size=32, name="InteropClustering")),
        "InteropRetrieval": retrieval_task(docs, queries, qrels, name="InteropRetrieval"),
        "InteropReranking": retrieval_task(docs, queries, qrels, name="InteropReranking", top_ranked=top),
    }
