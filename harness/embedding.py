"""`CachedModel`: wraps any model adapter so tasks get validated, cached vectors.

Tasks call `model.encode(texts, role=...)` and never know whether vectors came from the cache.
Texts are deduplicated, looked up by content hash, and only the missing ones are encoded, longest
first (as sentence-transformers sorts), in chunks written to the cache as they finish: a run killed
mid-encode resumes where it stopped.

A model's `meta` is part of the job key and the cache key, so it must be fixed when the model is
built: `CachedModel` keeps a copy taken when it wraps the model, and an adapter that changes its
`meta` during an encode is an error naming the model and the fields (its vectors would otherwise
be filed under the key of a different setting).
"""
from __future__ import annotations

import copy
import time
from typing import Sequence

import numpy as np

from .cache import EmbeddingCache, text_digests
from .errors import EmbeddingError
from .model_meta import changed_fields
from .progress import progress_bar
from .vectors import check_matrix


class CachedModel:
    def __init__(self, model, cache: EmbeddingCache | None, *, flush_every: int = 4096, progress: bool = True):
        self.model = model
        self.cache = cache
        self.flush_every = flush_every
        self.progress = progress
        self.stats = {"encoded": 0, "cached": 0, "encode_s": 0.0}
        self._meta = copy.deepcopy(dict(model.meta))

    @property
    def meta(self) -> dict:
        """The model's meta as it was when wrapped (the job key and the cache key read this)."""
        return self._meta

    def _check_meta_unchanged(self) -> None:
        changed = changed_fields(self._meta, dict(self.model.meta))
        if changed:
            now = self.model.meta
            detail = ", ".join(f"{k}: {self._meta.get(k)!r} -> {now.get(k)!r}" for k in changed)
            raise EmbeddingError(f"model {self._meta.get('name', 'model')!r} changed its meta while encoding "
                                 f"({detail}); an adapter must fix its meta when it is constructed, since the "
                                 "job key and the embedding-cache key are computed from it")

    def __getattr__(self, name):  # lookup(), vocabulary etc. of word-vector adapters pass through
        return getattr(self.model, name)

    def encode(self, texts: Sequence[str], *, role: str | None = None, batch_size: int | None = None) -> np.ndarray:
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise EmbeddingError(f"text {i} is {type(t).__name__}, not str")
        meta = self.meta
        name = meta.get("name", "model")
        if not texts:
            return np.zeros((0, meta.get("dim") or 0), dtype=np.float32)
        digests = text_digests(texts)
        uniq, inverse = np.unique(digests, return_inverse=True)
        first_pos = np.zeros(len(uniq), dtype=np.int64)
        first_pos[inverse[::-1]] = np.arange(len(texts))[::-1]
        uniq_texts = [texts[i] for i in first_pos]

        out, missing, store = None, np.arange(len(uniq)), None
        if self.cache is not None:
            store = self.cache.store(meta, role)
            out, missing = store.read(uniq)
        self.stats["cached"] += len(uniq) - len(missing)
        if len(missing):
            missing = sorted(missing.tolist(), key=lambda i: -len(uniq_texts[i]))  # longest first, as s-t does
            t0 = time.perf_counter()
            with progress_bar(total=len(missing), desc=f"encode {name} ({role or 'text'})", unit="text",
                              disable=not self.progress or len(missing) < 64) as bar:
                for start in range(0, len(missing), self.flush_every):
                    chunk = missing[start:start + self.flush_every]
                    vecs = self._encode_chunk([uniq_texts[i] for i in chunk], role, batch_size, bar)
                    if out is None:
                        out = np.empty((len(uniq), vecs.shape[1]), dtype=np.float32)
                    if vecs.shape[1] != out.shape[1]:
                        raise EmbeddingError(f"model {name!r} returned dim {vecs.shape[1]}; cached vectors have "
                                             f"dim {out.shape[1]} (clear the cache if the model changed)")
                    out[chunk] = vecs
                    if store is not None:
                        store.put(uniq[chunk], vecs)
            self.stats["encoded"] += len(missing)
            self.stats["encode_s"] += time.perf_counter() - t0
        return out[inverse]

    def _encode_chunk(self, texts, role, batch_size, bar) -> np.ndarray:
        meta = self.meta
        step = 512  # progress granularity; the adapter batches inside
        parts = []
        for s in range(0, len(texts), step):
            part = texts[s:s + step]
            kwargs = {"role": role}
            if batch_size:
                kwargs["batch_size"] = batch_size
            vecs = self.model.encode(part, **kwargs)
            self._check_meta_unchanged()
            parts.append(check_matrix(vecs, f"model {meta.get('name', 'model')!r}", rows=len(part),
                                      dim=meta.get("dim"), locate=lambda r, part=part: f"text {part[r][:60]!r}"))
            bar.update(len(part))
        return np.concatenate(parts)
