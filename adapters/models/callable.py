"""Any Python callable `fn(list[str]) -> array (n, d)` as a model."""
from __future__ import annotations

import inspect

import numpy as np

from harness.errors import EmbeddingError
from harness.vectors import check_matrix

from .base import make_meta


class CallableModel:
    """Wrap `fn`. If `fn` accepts a `role` keyword it receives "query"/"document"/None.

    `revision` should change whenever `fn` changes what it returns: it is part of the cache key.
    """

    def __init__(self, fn, *, name: str, dim: int | None = None, revision: str = "0", normalized: bool = False,
                 similarity: str = "cosine", batch_size: int = 256):
        self.fn = fn
        self.batch_size = batch_size
        try:
            self._takes_role = "role" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            self._takes_role = False
        self.meta = make_meta(name, revision=revision, dim=dim, similarity=similarity, normalized=normalized,
                              kind="callable")

    def encode(self, texts, *, role: str | None = None, batch_size: int | None = None) -> np.ndarray:
        texts = list(texts)
        step = batch_size or self.batch_size
        parts = []
        for s in range(0, len(texts), step):
            batch = texts[s:s + step]
            out = self.fn(batch, role=role) if self._takes_role else self.fn(batch)
            parts.append(check_matrix(out, f"model {self.meta['name']!r}", rows=len(batch), dim=self.meta["dim"],
                                      locate=lambda r, batch=batch: f"text {batch[r][:60]!r}"))
        if not parts:
            return np.zeros((0, self.meta["dim"] or 0), dtype=np.float32)
        if len({p.shape[1] for p in parts}) > 1:
            raise EmbeddingError(f"model {self.meta['name']!r} returned batches of dimensions "
                                 f"{sorted({p.shape[1] for p in parts})}")
        return np.concatenate(parts)
