"""Precomputed vectors: a `.npy` matrix plus one key (the text, or an id) per row, or a dict.

`encode(texts)` looks each text up; a text with no vector is an error naming it (never a zero row).
Also the vector source for geometry and index tasks (`all_vectors()`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.data import DatasetRecord
from harness.errors import DataError, HarnessError

from .base import make_meta


class PrecomputedModel:
    def __init__(self, vectors: np.ndarray, keys: list[str], *, name: str, revision: str = "0",
                 normalized: bool = False, source: DatasetRecord | None = None):
        vectors = np.asarray(vectors)
        if vectors.ndim != 2:
            raise HarnessError(f"precomputed vectors {name!r}: expected a 2-D array, got shape {vectors.shape}")
        if len(keys) != len(vectors):
            raise HarnessError(f"precomputed vectors {name!r}: {len(vectors)} rows but {len(keys)} keys")
        self.vectors = vectors
        self.keys = list(keys)
        self.row_of: dict[str, int] = {}
        for i, k in enumerate(self.keys):
            self.row_of.setdefault(k, i)
        self.source = source
        self.meta = make_meta(name, revision=revision, dim=int(vectors.shape[1]), normalized=normalized,
                              kind="precomputed")

    @classmethod
    def from_dict(cls, mapping: dict, *, name: str, revision: str = "0") -> "PrecomputedModel":
        keys = list(mapping)
        return cls(np.stack([np.asarray(mapping[k], dtype=np.float32) for k in keys]) if keys
                   else np.zeros((0, 0), np.float32), keys, name=name, revision=revision)

    def all_vectors(self) -> np.ndarray:
        return np.asarray(self.vectors, dtype=np.float32)

    def lookup(self, words):
        """(vectors, found mask): rows for known keys, zeros elsewhere."""
        found = np.array([w in self.row_of for w in words], dtype=bool)
        out = np.zeros((len(words), self.vectors.shape[1]), dtype=np.float32)
        if found.any():
            out[found] = self.vectors[[self.row_of[w] for w, f in zip(words, found) if f]]
        return out, found

    def encode(self, texts, *, role=None, batch_size=None) -> np.ndarray:
        texts = list(texts)
        missing = [t for t in texts if t not in self.row_of]
        if missing:
            raise HarnessError(f"precomputed vectors {self.meta['name']!r} have no vector for {len(missing)} "
                               f"text(s), e.g. {missing[0][:80]!r}")
        return np.asarray(self.vectors[[self.row_of[t] for t in texts]], dtype=np.float32)


def load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError("file not found", path)
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:  # object arrays need pickle: refused
        raise DataError(f"not a plain numeric .npy file ({e})", path) from None


def read_keys(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError("file not found (one key per line expected)", path)
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\r\n") for line in f]


def from_npy(spec: str) -> PrecomputedModel:
    """`vectors:<file.npy>` with keys in `<file>.ids.txt`, `<file>.txt` or `vocab.txt` beside it,
    or `vectors:<file.npy>,<keys.txt>`."""
    npy, _, keys_file = spec.partition(",")
    npy_path = Path(npy).expanduser()
    candidates = [Path(keys_file)] if keys_file else [
        npy_path.with_suffix(".ids.txt"), npy_path.with_suffix(".txt"), npy_path.parent / "vocab.txt"]
    keys_path = next((c for c in candidates if c.is_file()), None)
    if keys_path is None:
        raise DataError(f"no keys file for the vectors (looked for {', '.join(c.name for c in candidates)})", npy_path)
    rec = DatasetRecord(path=str(npy_path.parent))
    rec.add(npy_path, npy_path.parent)
    rec.add(keys_path, keys_path.parent)
    vectors = load_npy(npy_path)
    return PrecomputedModel(vectors, read_keys(keys_path), name=npy_path.stem,
                            revision="sha256:" + rec.sha256[npy_path.name][:16], source=rec)
