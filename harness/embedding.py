"""`CachedModel`: wraps any model adapter so tasks get validated, cached vectors.

Tasks call `model.encode(texts, role=...)` and never know whether vectors came from the cache.
Texts are deduplicated, looked up by content hash, and only the missing ones are encoded, longest
first (as sentence-transformers sorts), in chunks written to the cache as they finish: a run killed
mid-encode resumes where it stopped. A model that also has `encode_stream(texts, *, role, batch_size)`
-> iterable of (positions, vectors) (HTTP APIs: adapters/models/http_embeddings.py) gets each batch
cached the moment it arrives, so a server or run stopped mid-way costs no finished request.

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
            # longest first, as sentence-transformers does
            missing = np.array(sorted(missing.tolist(), key=lambda i: -len(uniq_texts[i])), dtype=np.int64)
            todo = [uniq_texts[i] for i in missing]
            t0 = time.perf_counter()
            with progress_bar(total=len(missing), desc=f"encode {name} ({role or 'text'})", unit="text",
                              disable=not self.progress or len(missing) < 64) as bar:
                encode = self._encode_streamed if hasattr(self.model, "encode_stream") else self._encode_chunked
                out = encode(todo, uniq[missing], missing, out, len(uniq), store, role, batch_size, bar)
            self.stats["encoded"] += len(missing)
            self.stats["encode_s"] += time.perf_counter() - t0
        return out[inverse]

    def _place(self, out, n: int, rows: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        """Put `vecs` at `rows` of the (n, d) output, made on the first call; a dimension that differs from
        the vectors already there (cached or encoded) is an error."""
        if out is None:
            out = np.empty((n, vecs.shape[1]), dtype=np.float32)
        if vecs.shape[1] != out.shape[1]:
            raise EmbeddingError(f"model {self.meta.get('name', 'model')!r} returned dim {vecs.shape[1]}; cached "
                                 f"vectors have dim {out.shape[1]} (clear the cache if the model changed)")
        out[rows] = vecs
        return out

    def _encode_chunked(self, texts, digests, rows, out, n, store, role, batch_size, bar):
        """Models with `encode`: `flush_every` texts at a time, each chunk cached when it is done."""
        for start in range(0, len(texts), self.flush_every):
            stop = start + self.flush_every
            vecs = self._encode_chunk(texts[start:stop], role, batch_size, bar)
            out = self._place(out, n, rows[start:stop], vecs)
            if store is not None:
                store.put(digests[start:stop], vecs)
        return out

    def _encode_streamed(self, texts, digests, rows, out, n, store, role, batch_size, bar):
        """Models with `encode_stream` (HTTP APIs): each batch is cached the moment it arrives, so a run stopped
        mid-way keeps every finished request; the small shards are merged every `flush_every` texts and at the
        end, leaving as many shards as `_encode_chunked` would."""
        name = self.meta.get("name", "model")
        done = np.zeros(len(texts), dtype=bool)
        pending: list[tuple[str, np.ndarray]] = []   # (shard stem, positions) written since the last merge
        kwargs = {"role": role, **({"batch_size": batch_size} if batch_size else {})}
        for pos, vecs in self.model.encode_stream(texts, **kwargs):
            self._check_meta_unchanged()
            pos = np.asarray(pos, dtype=np.int64).reshape(-1)
            if len(pos) and (pos.min() < 0 or pos.max() >= len(texts) or done[pos].any()
                             or len(np.unique(pos)) != len(pos)):
                raise EmbeddingError(f"model {name!r}: encode_stream returned positions outside 0..{len(texts) - 1} "
                                     "or a position twice")
            vecs = check_matrix(vecs, f"model {name!r}", rows=len(pos), dim=self.meta.get("dim"),
                                locate=lambda r, pos=pos: f"text {texts[pos[r]][:60]!r}")
            out = self._place(out, n, rows[pos], vecs)
            done[pos] = True
            bar.update(len(pos))
            if store is not None:
                pending.append((store.put(digests[pos], vecs), pos))
                if sum(len(p) for _, p in pending) >= self.flush_every:
                    pending = self._merge(store, pending, digests, rows, out)
        if not done.all():
            raise EmbeddingError(f"model {name!r}: encode_stream returned vectors for {int(done.sum())} of "
                                 f"{len(texts)} texts")
        if len(pending) > 1:
            self._merge(store, pending, digests, rows, out)
        return out

    @staticmethod
    def _merge(store, pending, digests, rows, out) -> list:
        """One shard for the small ones in `pending` (their rows are in `out`); they are deleted once it is written."""
        pos = np.concatenate([p for _, p in pending])
        store.put(digests[pos], out[rows[pos]], replaces=[stem for stem, _ in pending])
        return []

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
