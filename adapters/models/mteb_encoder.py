"""Any harness model, with its embedding cache, as an mteb 2.x encoder.

    encoder = as_mteb_encoder(packaged_minilm())          # default cache, .cache/embeddings
    mteb.evaluate(encoder, mteb.get_tasks(["STS12"]), cache=None)

mteb calls `encode(DataLoader, task_metadata=..., hf_split=..., hf_subset=..., prompt_type=...)`. The
texts of the batches (mteb has already joined title and body, instruction and query) go to
`CachedModel.encode` with the role the prompt type stands for: query -> "query", document ->
"document", none -> None. Vectors already in the cache are served from it, the others are encoded and
written to it, so a second run encodes nothing (`encoder.stats`).

An adapter whose vectors depend on the task itself (an mteb model's task instructions, `mteb-model:`)
declares `mteb_role(task_metadata, prompt_type, hf_split, hf_subset) -> role`: its roles then name the
task, so two tasks' instructions never share cache entries.

The model's meta becomes mteb's ModelMeta (name, revision, embed_dim, similarity_fn_name, max_tokens,
use_instructions); an adapter that carries mteb's own ModelMeta (`mteb_meta`) passes it through whole.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from mteb.models.abs_encoder import AbsEncoder
from mteb.models.model_meta import ModelMeta, ScoringFunction
from mteb.types import PromptType

from harness.errors import HarnessError

ROLES = {PromptType.query: "query", PromptType.document: "document", None: None}
FRAMEWORKS = {"sentence-transformers": ["Sentence Transformers", "PyTorch"], "http": ["API"], "callable": [],
              "vectors": ["NumPy"]}


def as_mteb_encoder(model, cache: Any = None, *, name: str | None = None, batch_size: int | None = None,
                    progress: bool = False) -> "HarnessEncoder":
    """An mteb encoder over `model`: a harness adapter (wrapped here in a CachedModel) or a CachedModel.

    cache: an `EmbeddingCache`, a folder, None (the default cache: $HARNESS_CACHE or .cache/embeddings)
    or False (no cache); only for an adapter, since a CachedModel brings its own.
    name: the model name mteb records (mteb wants "org/name"; default "harness/<meta name>").
    batch_size: passed to the adapter's encode (default: the adapter's own).
    """
    from harness.cache import EmbeddingCache
    from harness.embedding import CachedModel

    if isinstance(model, CachedModel):
        if cache not in (None, False) and cache is not model.cache:
            raise HarnessError("as_mteb_encoder: the model is already a CachedModel with its own cache; "
                               "pass the plain adapter to use another cache")
        cached = model
    else:
        if not isinstance(getattr(model, "meta", None), dict) or not callable(getattr(model, "encode", None)):
            raise HarnessError(f"as_mteb_encoder: {type(model).__name__} is not a model adapter (it needs "
                               "encode(texts, role=...) and a meta dict)")
        if cache is False:
            store = None
        elif isinstance(cache, EmbeddingCache):
            store = cache
        else:
            store = EmbeddingCache(cache)
        cached = CachedModel(model, store, progress=progress)
    return HarnessEncoder(cached, mteb_model_meta(cached, name=name), batch_size=batch_size)


def mteb_model_meta(model, *, name: str | None = None) -> ModelMeta:
    """mteb's ModelMeta for a harness model: the adapter's own ModelMeta if it has one, else built from `meta`."""
    own = getattr(model, "mteb_meta", None)
    if isinstance(own, ModelMeta):
        return own if name is None else own.model_copy(update={"name": name})
    meta = model.meta
    label = name or str(meta.get("name") or "model")
    if "/" not in label:   # mteb requires "org/name"
        label = f"harness/{label}"
    dim, max_len = meta.get("dim"), meta.get("max_seq_len")
    return ModelMeta(loader=None, name=label, revision=None if meta.get("revision") is None else str(meta["revision"]),
                     release_date=None, languages=None, n_parameters=None, memory_usage_mb=None,
                     max_tokens=None if max_len is None else float(max_len), embed_dim=dim, license=None,
                     open_weights=None, public_training_code=None, public_training_data=None,
                     framework=FRAMEWORKS.get(str(meta.get("kind")), []),
                     similarity_fn_name=scoring_function(meta), use_instructions=bool(meta.get("prompts")),
                     training_datasets=None, modalities=["text"])


def scoring_function(meta: dict) -> ScoringFunction:
    """The model's `similarity` ("cosine", "dot", "euclidean", "manhattan") as mteb's ScoringFunction."""
    value = meta.get("similarity") or "cosine"
    aliases = {"dot_product": "dot", "cos": "cosine"}
    try:
        return ScoringFunction(aliases.get(value, value))
    except ValueError:
        raise HarnessError(f"model {meta.get('name')!r}: similarity {value!r} has no mteb scoring function; "
                           "valid: cosine, dot, euclidean, manhattan") from None


class HarnessEncoder(AbsEncoder):
    """mteb's encoder protocol over a `CachedModel` (build it with `as_mteb_encoder`)."""

    def __init__(self, model, meta: ModelMeta, *, batch_size: int | None = None):
        self.model = model   # the CachedModel: every vector goes through the embedding cache
        self.mteb_model_meta = meta
        self.batch_size = batch_size

    @property
    def stats(self) -> dict:
        """The CachedModel's counts: texts encoded, texts served from the cache, seconds spent encoding."""
        return self.model.stats

    def role(self, task_metadata, prompt_type, hf_split: str, hf_subset: str) -> str | None:
        if prompt_type is not None and not isinstance(prompt_type, PromptType):
            value = getattr(prompt_type, "value", prompt_type)
            try:   # mteb 1.x called documents "passage"
                prompt_type = PromptType("document" if value == "passage" else value)
            except ValueError:
                raise HarnessError(f"task {task_metadata.name}: unknown mteb prompt type {value!r}; "
                                   "valid: query, document, None") from None
        custom = getattr(self.model, "mteb_role", None)
        if callable(custom):
            return custom(task_metadata, prompt_type, hf_split, hf_subset)
        return ROLES[prompt_type]

    def encode(self, inputs, *, task_metadata, hf_split: str, hf_subset: str, prompt_type=None, **kwargs):
        texts = []
        for batch in inputs:
            if "text" not in batch:
                raise HarnessError(f"task {task_metadata.name}: model {self.mteb_model_meta.name!r} encodes text "
                                   f"only; this task's inputs are {', '.join(sorted(batch))}")
            texts.extend(batch["text"])
        role = self.role(task_metadata, prompt_type, hf_split, hf_subset)
        return self.model.encode(texts, role=role, batch_size=self.batch_size)

    # cosine and dot come from AbsEncoder; sentence-transformers' negative distances for the other two
    def similarity(self, embeddings1, embeddings2):
        fn = self._distance_similarity(pairwise=False)
        return fn(embeddings1, embeddings2) if fn else super().similarity(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1, embeddings2):
        fn = self._distance_similarity(pairwise=True)
        return fn(embeddings1, embeddings2) if fn else super().similarity_pairwise(embeddings1, embeddings2)

    def _distance_similarity(self, *, pairwise: bool):
        kind = self.mteb_model_meta.similarity_fn_name
        if kind not in (ScoringFunction.EUCLIDEAN, ScoringFunction.MANHATTAN):
            return None
        from sentence_transformers import util
        name = ("pairwise_" if pairwise else "") + ("euclidean_sim" if kind is ScoringFunction.EUCLIDEAN
                                                     else "manhattan_sim")
        fn = getattr(util, name)
        return lambda a, b: fn(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32))
