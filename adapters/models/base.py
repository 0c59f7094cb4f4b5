"""What every model adapter shares: the `meta` dict and a text-list check.

Protocol (design.md): `encode(texts, *, role="query"|"document"|None, batch_size) -> float32 (n, d)`
and `meta` with at least name, revision, dim, similarity, normalized, max_seq_len. Everything in
`meta` that changes a vector is part of the embedding-cache key.
"""
from __future__ import annotations


def make_meta(name: str, *, revision: str | None = None, dim: int | None = None, similarity: str = "cosine",
              normalized: bool = False, max_seq_len: int | None = None, prompts: dict | None = None,
              kind: str = "model", **extra) -> dict:
    meta = {"name": name, "revision": revision, "dim": dim, "similarity": similarity, "normalized": normalized,
            "max_seq_len": max_seq_len, "prompts": prompts or None, "kind": kind}
    meta.update(extra)
    return meta
