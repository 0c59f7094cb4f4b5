"""Run mteb 2.x's own evaluators, locally and offline, on exactly our embeddings.

`CachedVectorsEncoder` is an mteb encoder whose `encode` returns the vectors our harness produced
(through the same `CachedModel`/cache), so a comparison tests the evaluators, not encoding noise.
`local_task_metadata(...)` builds the TaskMetadata that environment.md §3 shows for local tasks
(subclass an mteb AbsTask, override `load_data`).
"""
from __future__ import annotations

import numpy as np

COMMON = dict(description="local task", reference="https://example.org/local",
              dataset={"path": "local/none", "revision": "local"}, category="t2t",
              eval_splits=["test"], eval_langs=["eng-Latn"], date=("2026-01-01", "2026-01-01"),
              dialect=[], domains=[], task_subtypes=[], license="cc-by-4.0",
              annotations_creators="derived", modalities=["text"], sample_creation="found", bibtex_citation="")


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
