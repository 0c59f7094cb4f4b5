"""The one definition of "the model meta that changes a vector".

Both keys that must change when a model's vectors change read it from here: the job key (a
different model setting is a different job) and the embedding-cache key (its vectors are never
served for the other setting). Adding a field here changes both at once.
"""
from __future__ import annotations

# Order and names are part of the embedding-cache key: changing them invalidates every cached vector.
VECTOR_META_FIELDS = ("name", "revision", "normalized", "max_seq_len", "prompts", "dim", "pooling", "dtype",
                      "batching", "device")   # batching: how texts share a batch changes last bits (adapters say)


def vector_meta(meta: dict) -> dict:
    """The fields of a model's `meta` that change the vector it returns for a text (absent -> None)."""
    return {k: meta.get(k) for k in VECTOR_META_FIELDS}


def changed_fields(before: dict, after: dict) -> list[str]:
    """Names of the meta fields whose value differs (added, removed or changed)."""
    return sorted(k for k in set(before) | set(after) if before.get(k, _MISSING) != after.get(k, _MISSING))


_MISSING = object()
