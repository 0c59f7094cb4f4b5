"""Content-addressed embedding cache, stored as plain .npy shards (never pickles).

A vector is addressed by (model key, role key, sha256(text)). The model key hashes the fields of
the adapter's `meta` that change a vector (harness/model_meta.py, shared with the job key), so two
models, or one model with two prompts, never share entries; the role is part of the key only when
the model has role-specific prompts, so queries and documents share vectors otherwise.

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

from .io import atomic_write_bytes, npy_bytes
from .model_meta import vector_meta
from .results import canonical_json, safe_name


def default_cache_dir() -> Path:
    return Path(os.environ.get("HARNESS_CACHE", Path.cwd() / ".cache" / "embeddings"))


def model_cache_key(meta: dict) -> str:
    return hashlib.sha256(canonical_json(vector_meta(meta)).encode()).hexdigest()[:16]


def text_digests(texts: Sequence[str]) -> np.ndarray:
    return np.array([hashlib.sha256(t.encode("utf-8")).digest() for t in texts], dtype="S32")


class _RoleStore:
    """The shards of one (model, role), with their digests sorted for vectorised look-ups; refreshed lazily."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.shards: list[np.ndarray] = []
        self._seen: set[str] = set()
        self._keys = np.zeros(0, dtype="S32")              # every digest, sorted
        self._where = np.zeros((0, 2), dtype=np.int64)     # its (shard, row), same order

    def refresh(self) -> None:
        if not self.folder.is_dir():
            return
        keys, where = [self._keys], [self._where]
        for keys_file in sorted(self.folder.glob("shard-*.keys.npy")):
            if keys_file.name in self._seen:
                continue
            vec_file = keys_file.with_name(keys_file.name.replace(".keys.npy", ".npy"))
            try:
                k = np.load(keys_file, allow_pickle=False)
                vecs = np.load(vec_file, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError):
                continue  # unreadable shard: treated as absent, its texts get re-encoded
            if vecs.ndim != 2 or k.ndim != 1 or len(k) != len(vecs) or k.dtype != np.dtype("S32"):
                continue
            self._seen.add(keys_file.name)
            keys.append(k)
            where.append(np.column_stack([np.full(len(k), len(self.shards)), np.arange(len(k))]))
            self.shards.append(vecs)
        if len(keys) > 1:
            # stable: a text stored twice (two writers) is served from the older shard, as it always was
            all_keys, all_where = np.concatenate(keys), np.concatenate(where)
            order = np.argsort(all_keys, kind="stable")
            self._keys, self._where = all_keys[order], all_where[order]

    def read(self, digests: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """(vectors, missing): one float32 row per digest found (None when none is), and the positions
        of the digests not in the cache (their rows are left for the caller to fill)."""
        if not len(self._keys):
            return None, np.arange(len(digests))
        pos = np.minimum(np.searchsorted(self._keys, digests), len(self._keys) - 1)
        hit = self._keys[pos] == digests
        where = self._where[pos]
        out = None
        for s in np.unique(where[hit, 0]):
            rows = np.flatnonzero(hit & (where[:, 0] == s))
            shard = self.shards[s]
            if out is None:
                out = np.empty((len(digests), shard.shape[1]), dtype=np.float32)
            out[rows] = shard[where[rows, 1]]
        return out, np.flatnonzero(~hit)

    def put(self, digests: np.ndarray, vectors: np.ndarray, *, replaces: Sequence[str] = ()) -> str:
        """Store rows as a new shard and return its stem. `replaces`: stems of shards whose rows this one
        holds too (small shards merged), deleted once it is complete. Readers see it at their next
        `refresh` (`EmbeddingCache.store` refreshes)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = f"shard-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        vec_file, keys_file = self.folder / f"{stem}.npy", self.folder / f"{stem}.keys.npy"
        atomic_write_bytes(vec_file, npy_bytes(vectors.astype(np.float32, copy=False)))
        atomic_write_bytes(keys_file, npy_bytes(digests))  # written last: marks the shard complete
        for old in replaces:   # keys first: a shard is gone for readers before its vectors are
            for f in (self.folder / f"{old}.keys.npy", self.folder / f"{old}.npy"):
                try:
                    f.unlink(missing_ok=True)
                except OSError:   # mapped by a reader on a system that forbids it: a duplicate is harmless
                    pass
        return stem


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

    def cached_vectors(self, meta: dict, texts: Sequence[str], role: str | None = None) -> np.ndarray | None:
        """The stored vectors of `texts` (one row each), or None when any of them is not cached."""
        vectors, missing = self.store(meta, role).read(text_digests(texts))
        return None if len(missing) or vectors is None else vectors

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
