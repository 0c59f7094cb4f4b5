"""Content-addressed embedding cache, stored as plain .npy shards (never pickles).

A vector is addressed by (model key, role key, sha256(text)). The model key hashes every field of
the adapter's `meta` that changes a vector (name, revision, normalisation, max length, prompts,
dim), so two models, or one model with two prompts, never share entries; the role is part of the
key only when the model has role-specific prompts, so queries and documents share vectors otherwise.

Layout: `<root>/<model-name>-<model-key>/<role>/shard-*.npy` (float32 rows) with a sibling
`shard-*.keys.npy` (32-byte digests). A shard is written vectors first, keys last, each through a
temp file + rename, so a crash mid-write leaves at most an orphan vectors file (ignored and swept),
never a key pointing at missing rows. Shards are memory-mapped on read.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import EmbeddingError
from .io import atomic_write_bytes, npy_bytes
from .results import canonical_json, safe_name

# meta fields that change the vector a model returns for a text
VECTOR_META_FIELDS = ("name", "revision", "normalized", "max_seq_len", "prompts", "dim", "pooling", "dtype")


def default_cache_dir() -> Path:
    return Path(os.environ.get("HARNESS_CACHE", Path.cwd() / ".cache" / "embeddings"))


def model_cache_key(meta: dict) -> str:
    picked = {k: meta.get(k) for k in VECTOR_META_FIELDS}
    return hashlib.sha256(canonical_json(picked).encode()).hexdigest()[:16]


def text_digests(texts: Sequence[str]) -> np.ndarray:
    return np.array([hashlib.sha256(t.encode("utf-8")).digest() for t in texts], dtype="S32")


def check_embeddings(vectors, n_expected: int, model_name: str, dim: int | None = None) -> np.ndarray:
    """Adapter output must be a finite float (n, d) array; errors name the model and the row."""
    try:
        arr = np.asarray(vectors)
    except Exception as e:  # ragged lists and the like
        raise EmbeddingError(f"model {model_name!r} returned something that is not an array: {e}") from None
    if arr.ndim != 2:
        raise EmbeddingError(f"model {model_name!r} returned an array of shape {arr.shape}; expected (n_texts, dim)")
    if arr.shape[0] != n_expected:
        raise EmbeddingError(f"model {model_name!r} returned {arr.shape[0]} vectors for {n_expected} texts")
    if dim is not None and arr.shape[1] != dim:
        raise EmbeddingError(f"model {model_name!r} returned dim {arr.shape[1]}; its meta says {dim}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise EmbeddingError(f"model {model_name!r} returned dtype {arr.dtype}; expected floats")
    arr = arr.astype(np.float32, copy=False)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise EmbeddingError(f"model {model_name!r} returned non-finite values (NaN/Inf) in {rows.size} row(s), "
                             f"first at row {int(rows[0])}")
    return np.ascontiguousarray(arr)


class _RoleStore:
    """The shards of one (model, role): digest -> (shard, row) index, refreshed lazily."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.index: dict[bytes, tuple[int, int]] = {}
        self.shards: list[np.ndarray] = []
        self._seen: set[str] = set()

    def refresh(self) -> None:
        if not self.folder.is_dir():
            return
        for keys_file in sorted(self.folder.glob("shard-*.keys.npy")):
            if keys_file.name in self._seen:
                continue
            vec_file = keys_file.with_name(keys_file.name.replace(".keys.npy", ".npy"))
            try:
                keys = np.load(keys_file, allow_pickle=False)
                vecs = np.load(vec_file, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError):
                continue  # unreadable shard: treated as absent, its texts get re-encoded
            if vecs.ndim != 2 or len(keys) != len(vecs):
                continue
            self._seen.add(keys_file.name)
            s = len(self.shards)
            self.shards.append(vecs)
            for row, k in enumerate(keys.tolist()):
                self.index.setdefault(k, (s, row))

    def get(self, digests: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Rows found, and the positions of digests not in the cache."""
        found, missing = {}, []
        for i, d in enumerate(digests.tolist()):
            loc = self.index.get(d)
            if loc is None:
                missing.append(i)
            else:
                found[i] = loc
        return found, missing

    def put(self, digests: np.ndarray, vectors: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = f"shard-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        vec_file, keys_file = self.folder / f"{stem}.npy", self.folder / f"{stem}.keys.npy"
        atomic_write_bytes(vec_file, npy_bytes(vectors.astype(np.float32, copy=False)))
        atomic_write_bytes(keys_file, npy_bytes(digests))  # written last: marks the shard complete
        self.refresh()


class EmbeddingCache:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self._stores: dict[tuple[str, str], _RoleStore] = {}

    def store(self, meta: dict, role: str | None) -> _RoleStore:
        role_key = role if (role and meta.get("prompts")) else "any"
        folder = self.root / f"{safe_name(str(meta.get('name', 'model')))[:60]}-{model_cache_key(meta)}" / role_key
        key = (str(folder), role_key)
        if key not in self._stores:
            self._stores[key] = _RoleStore(folder)
        st = self._stores[key]
        st.refresh()
        return st

    # -- maintenance -------------------------------------------------------------------------
    def report(self) -> list[dict]:
        """One row per model folder: vectors stored, shards and bytes on disk."""
        rows = []
        if not self.root.is_dir():
            return rows
        for model_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            n_bytes = n_vectors = n_shards = 0
            for f in model_dir.rglob("*"):
                if f.is_file():
                    n_bytes += f.stat().st_size
                if f.name.endswith(".keys.npy"):
                    n_shards += 1
                    n_vectors += len(np.load(f, mmap_mode="r", allow_pickle=False))
            rows.append({"model": model_dir.name, "vectors": n_vectors, "shards": n_shards, "bytes": n_bytes})
        return rows

    def clear(self, model_substring: str | None = None) -> int:
        """Delete cached vectors (all, or model folders whose name contains the substring); bytes freed."""
        freed = 0
        if not self.root.is_dir():
            return 0
        for model_dir in [p for p in self.root.iterdir() if p.is_dir()]:
            if model_substring and model_substring not in model_dir.name:
                continue
            freed += sum(f.stat().st_size for f in model_dir.rglob("*") if f.is_file())
            shutil.rmtree(model_dir)
        self._stores.clear()
        return freed

    def sweep_orphans(self) -> int:
        """Remove temp files and vectors files without keys left by a crash; returns files removed."""
        removed = 0
        if not self.root.is_dir():
            return 0
        for f in self.root.rglob("*"):
            if not f.is_file() or time.time() - f.stat().st_mtime < 3600:
                continue  # may belong to a writer that is still running
            orphan = f.name.endswith(".tmp") or (
                f.name.startswith("shard-") and f.name.endswith(".npy") and not f.name.endswith(".keys.npy")
                and not f.with_name(f.name[:-4] + ".keys.npy").exists())
            if orphan:
                f.unlink(missing_ok=True)
                removed += 1
        return removed
