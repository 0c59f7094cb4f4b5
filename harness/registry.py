"""Names -> factories, as data. Nothing heavy is imported until a name is resolved.

Adding a task, model or index is one small module plus one line here. Entries are
"module:attribute" strings (lm-eval style) so `run.py list` never imports torch, faiss or mteb.
Prefixed names (`beir:/folder`, `st:/path/or/hub-id`, `vectors:/file.npy`, `words:/folder`) build
an object from a path the user gives.
"""
from __future__ import annotations

import importlib
import os
from typing import Any, Callable

from .errors import UnknownNameError

TASKS: dict[str, str] = {
    # --- STS (MTEB names)
    "STSBenchmark": "tasks.sts:stsbenchmark",
    "SICK-R": "tasks.sts:sickr",
    "BIOSSES": "tasks.sts:biosses",
    # --- word similarity (word-vector adapters; sentence models encode the single words)
    "WordSim353": "tasks.word_similarity:wordsim353",
    "SimLex999": "tasks.word_similarity:simlex999",
    # --- retrieval (BEIR layout)
    "SciFact": "tasks.retrieval:scifact",
    "NFCorpus": "tasks.retrieval:nfcorpus",
    # --- classification and clustering
    "Banking77Classification": "tasks.classification:banking77",
    "EmotionClassification": "tasks.classification:emotion",
    "TRECClassification": "tasks.classification:trec",
    "Banking77Classification-kNN": "tasks.classification:banking77_knn",
    "EmotionClassification-kNN": "tasks.classification:emotion_knn",
    "TRECClassification-kNN": "tasks.classification:trec_knn",
    "Banking77Clustering": "tasks.clustering:banking77",
    "Banking77Clustering.v2": "tasks.clustering:banking77_v2",
    "EmotionClustering": "tasks.clustering:emotion",
    "EmotionClustering.v2": "tasks.clustering:emotion_v2",
    "TRECCoarseClustering": "tasks.clustering:trec_coarse",
    "TRECCoarseClustering.v2": "tasks.clustering:trec_coarse_v2",
    "TRECFineClustering": "tasks.clustering:trec_fine",
    "TRECFineClustering.v2": "tasks.clustering:trec_fine_v2",
    "AGNewsClustering": "tasks.clustering:ag_news",
    "AGNewsClustering.v2": "tasks.clustering:ag_news_v2",
    # --- geometry: intrinsic dimension, spectrum
    "IntrinsicDimension-Banking77": "tasks.intrinsic_dimension:banking77",
    "IntrinsicDimension-Emotion": "tasks.intrinsic_dimension:emotion",
    "IntrinsicDimension-SciFact": "tasks.intrinsic_dimension:scifact",
    "IntrinsicDimension-ModelVectors": "tasks.intrinsic_dimension:model_vectors",
    "Spectrum-Banking77": "tasks.spectrum:banking77",
    "Spectrum-Emotion": "tasks.spectrum:emotion",
    "Spectrum-SciFact": "tasks.spectrum:scifact",
    "Spectrum-ModelVectors": "tasks.spectrum:model_vectors",
    # --- HNSW insertion order
    "HNSWInsertionOrder": "tasks.hnsw_order:hnsw_insertion_order",
    "HNSWInsertionOrder-Synthetic": "tasks.hnsw_order:synthetic",
    "HNSWInsertionOrder-GMM": "tasks.hnsw_order:gmm",
    "HNSWInsertionOrder-GramSchmidt64": "tasks.hnsw_order:intrinsic_dim",
    "HNSWInsertionOrder-SciFact": "tasks.hnsw_order:scifact",
    "HNSWInsertionOrder-NFCorpus": "tasks.hnsw_order:nfcorpus",
    "HNSWInsertionOrder-W2V": "tasks.hnsw_order:w2v",
    "RankingShift-SciFact": "tasks.ranking_shift:scifact",
    "RankingShift-NFCorpus": "tasks.ranking_shift:nfcorpus",
    # --- ANN index sweeps (one job per index build point; every query point on one build)
    "ANN-SciFact": "tasks.ann_sweep:scifact",
    "ANN-NFCorpus": "tasks.ann_sweep:nfcorpus",
    "ANN-W2V": "tasks.ann_sweep:w2v",
    "ANN-Synthetic100k": "tasks.ann_sweep:synthetic100k",
    # --- compression: truncation x quantisation x rescoring (issue 17)
    "Compression-SciFact": "tasks.compression:scifact",
    "Compression-STSBenchmark": "tasks.compression:stsbenchmark",
    "Compression-Banking77": "tasks.compression:banking77",
    # --- bias
    "WEAT": "tasks.weat:weat",
    "SEAT": "tasks.seat:seat",
    "DirectBias": "tasks.direct_bias:direct_bias_task",
}

MODELS: dict[str, str] = {
    "all-MiniLM-L6-v2": "adapters.models.sentence_transformers:packaged_minilm",
    "w2v-googlenews-subset": "adapters.models.word_vectors:w2v_googlenews_subset",
    "static-tokenlearn-64": "adapters.models.static_model2vec:tokenlearn_static",
    "glove-cbn-items": "adapters.models.glove_cbn:glove_cbn_items",
}

INDEXES: dict[str, str] = {
    # --- vector indexes
    "exact": "adapters.indexes.exact:exact",
    "hnswlib": "adapters.indexes.hnswlib_index:hnswlib_index",
    "faiss-hnsw": "adapters.indexes.faiss_hnsw:faiss_hnsw",
    "faiss-hnsw-sq8": "adapters.indexes.faiss_hnsw_sq:faiss_hnsw_sq8",
    "faiss-ivf-flat": "adapters.indexes.faiss_ivf:faiss_ivf_flat",
    "faiss-ivf-pq": "adapters.indexes.faiss_ivf:faiss_ivf_pq",
    "usearch": "adapters.indexes.usearch_index:usearch_index",
    "lancedb-flat": "adapters.indexes.lancedb_index:lancedb_flat",
    "lancedb-ivf-pq": "adapters.indexes.lancedb_index:lancedb_ivf_pq",
    "lancedb-hnsw-sq": "adapters.indexes.lancedb_index:lancedb_hnsw_sq",
    "binary-hamming": "adapters.indexes.compressed:binary_hamming",      # issue 17: sign bits, Hamming
    "int8-flat": "adapters.indexes.compressed:int8_flat",                # issue 17: int8 / uint8 codes
}

# Prefix -> factory taking the text after the colon.
TASK_PREFIXES: dict[str, str] = {"beir": "tasks.retrieval:from_folder", "ann": "tasks.ann_sweep:from_npy"}
TASK_PREFIXES["mteb"] = "tasks.mteb_task:from_name"                       # any MTEB task, scored by mteb
# Prefix -> function of the text after the colon returning several task names (expanded by the CLI)
TASK_EXPANDERS: dict[str, str] = {"mteb-benchmark": "tasks.mteb_catalogue:benchmark_task_names"}
MODEL_PREFIXES: dict[str, str] = {
    "st": "adapters.models.sentence_transformers:from_path_or_hub_id",
    "vectors": "adapters.models.precomputed:from_npy",
    "words": "adapters.models.word_vectors:from_folder",
    "http": "adapters.models.http_embeddings:from_spec",            # OpenAI-compatible POST /embeddings
    "openai": "adapters.models.http_embeddings:openai_from_spec",
    "mteb-model": "adapters.models.mteb_model:from_name",               # mteb.get_model, with MTEB's prompts
    "compressed": "adapters.models.compressed:from_spec",               # <model>@dim=128+int8 (issue 17)
}
INDEX_PREFIXES: dict[str, str] = {}
PREFIX_HINTS = {"beir": "folder or BEIR name"}   # what follows the prefix, where it is not a path
PREFIX_HINTS.update({"http": "model@base_url#version=V&setting=value...", "openai": "model#version=V&setting=value..."})
PREFIX_HINTS["compressed"] = "model@dim=D+precision[+calibration=vectors.npy]"
PREFIX_HINTS.update({"mteb": "MTEB task name", "mteb-model": "mteb model name", "mteb-benchmark": "MTEB benchmark name"})


def prefix_label(prefix: str) -> str:
    """How a prefixed name is written in listings: `st:<path>`, `beir:<folder or BEIR name>`."""
    return f"{prefix}:<{PREFIX_HINTS.get(prefix, 'path')}>"


# Named task lists. "default" runs every task family on the packaged model and offline data.
SUITES: dict[str, list[str]] = {
    # every task family on the packaged model and offline data, a few minutes on 2 cores
    "default": ["STSBenchmark", "SICK-R", "BIOSSES", "SciFact", "Banking77Classification", "Banking77Clustering",
                "IntrinsicDimension-Banking77", "Spectrum-Banking77", "HNSWInsertionOrder-Synthetic",
                "WEAT", "SEAT", "DirectBias"],
    "sts": ["STSBenchmark", "SICK-R", "BIOSSES"],
    "retrieval": ["SciFact", "NFCorpus"],
    "classification": ["Banking77Classification", "EmotionClassification", "TRECClassification",
                       "Banking77Classification-kNN", "EmotionClassification-kNN", "TRECClassification-kNN"],
    "clustering": ["Banking77Clustering", "EmotionClustering", "TRECCoarseClustering", "TRECFineClustering",
                   "AGNewsClustering"],
    "geometry": ["IntrinsicDimension-Banking77", "IntrinsicDimension-SciFact", "Spectrum-Banking77",
                 "Spectrum-SciFact"],
    "bias": ["WEAT", "SEAT", "DirectBias"],
    "mteb-reference": ["STSBenchmark", "SICK-R", "BIOSSES", "SciFact", "NFCorpus", "Banking77Classification",
                       "EmotionClassification"],
    "word-similarity": ["WordSim353", "SimLex999"],
    "hnsw-order": ["HNSWInsertionOrder-SciFact", "HNSWInsertionOrder-NFCorpus", "HNSWInsertionOrder-W2V",
                   "HNSWInsertionOrder-GMM", "HNSWInsertionOrder-GramSchmidt64"],
    "hnsw-order-ci": ["HNSWInsertionOrder-Synthetic"],
    "ranking-shift": ["RankingShift-SciFact", "RankingShift-NFCorpus"],
    "ann": ["ANN-SciFact", "ANN-NFCorpus", "ANN-W2V", "ANN-Synthetic100k"],
    "compression": ["Compression-SciFact", "Compression-STSBenchmark", "Compression-Banking77"],
}

DEFAULT_MODELS = ["all-MiniLM-L6-v2"]


def load_target(target: str) -> Callable[..., Any]:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _resolve(kind: str, name: str, table: dict[str, str], prefixes: dict[str, str], **kwargs):
    if name in table:
        return load_target(table[name])(**kwargs)
    prefix, sep, rest = name.partition(":")
    if sep and prefix in prefixes and rest:
        return load_target(prefixes[prefix])(rest, **kwargs)
    valid = list(table) + [prefix_label(p) for p in prefixes]
    raise UnknownNameError(kind, name, valid)


def make_task(name: str):
    return _resolve("task", name, TASKS, TASK_PREFIXES)


def make_model(name: str, *, data_root=None):
    """A model adapter; factories that read data (word vectors, item vectors) get `data_root`."""
    return _resolve("model", name, MODELS, MODEL_PREFIXES, **_accepted(name, MODELS, MODEL_PREFIXES,
                                                                      data_root=data_root))


def make_index(name: str, **params):
    """The one door to a vector index: every task that searches builds its index here, by registry name
    and parameters (build and query parameters, split by the adapter; an unknown one is an error)."""
    return _resolve("index", name, INDEXES, INDEX_PREFIXES, **params)


def _accepted(name: str, table: dict[str, str], prefixes: dict[str, str], **optional) -> dict:
    """The optional keyword arguments the factory of `name` declares (others are not passed)."""
    import inspect
    target = table.get(name) or prefixes.get(name.partition(":")[0])
    if target is None:
        return {}
    try:
        sig = inspect.signature(load_target(target))
    except (TypeError, ValueError):
        return {}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    return {k: v for k, v in optional.items() if takes_any or k in sig.parameters}


def check_names(kind: str, names: list[str]) -> None:
    """Fail fast, before any job runs, on a name that resolves to nothing."""
    table, prefixes = {"task": (TASKS, TASK_PREFIXES), "model": (MODELS, MODEL_PREFIXES),
                       "index": (INDEXES, INDEX_PREFIXES)}[kind]
    for name in names:
        prefix, sep, rest = name.partition(":")
        if name not in table and not (sep and prefix in prefixes and rest):
            raise UnknownNameError(kind, name, list(table) + [f"{p}:<path>" for p in prefixes])


def suite_tasks(suite: str) -> list[str]:
    if suite not in SUITES:
        raise UnknownNameError("suite", suite, SUITES)
    return list(SUITES[suite])


def _load_plugins() -> None:
    """Modules named in $HARNESS_PLUGINS (comma-separated) add their own entries on import.

    This is how a user registers a private model or task without editing the package, and how
    worker processes (local pool, Dask) see the same names as the process that planned the run.
    """
    for module in filter(None, (m.strip() for m in os.environ.get("HARNESS_PLUGINS", "").split(","))):
        importlib.import_module(module)


_load_plugins()
