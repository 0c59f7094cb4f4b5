"""Precomputed vectors: a `.npy` matrix plus one key (the text, or an id) per row, or a dict.

`encode(texts)` looks each text up; a text with no vector is an error naming it (never a zero row).
Also the vector source for geometry and index tasks (`all_vectors()`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.data import DatasetRecord
from harness.errors import DataError, HarnessError
from harness.io import load_npy
from harness.vectors import check_matrix

from .base import make_meta


class PrecomputedModel:
    keep_dtype = False   # lookup() returns float32; a subclass may keep the stored precision

    def __init__(self, vectors: np.ndarray, keys: list[str], *, name: str, revision: str = "0",
                 normalized: bool = False, source: DatasetRecord | None = None, keys_file: Path | None = None):
        self.vectors = checked_rows(vectors, keys, f"precomputed vectors {name!r}", keys_file)
        self.keys = list(keys)
        self.row_of = first_rows(self.keys)
        self.source = source
        self.meta = make_meta(name, revision=revision, dim=int(self.vectors.shape[1]), normalized=normalized,
                              kind="precomputed")

    @classmethod
    def from_dict(cls, mapping: dict, *, name: str, revision: str = "0") -> "PrecomputedModel":
        keys = list(mapping)
        return cls(np.stack([np.asarray(mapping[k], dtype=np.float32) for k in keys]) if keys
                   else np.zeros((0, 0), np.float32), keys, name=name, revision=revision)

    def all_vectors(self) -> np.ndarray:
        return np.asarray(self.vectors, dtype=np.float32)

    def _row(self, key: str) -> int | None:
        return self.row_of.get(key)

    def lookup(self, words):
        """(vectors, found mask): rows for known keys, zeros elsewhere; float32 unless `keep_dtype`."""
        rows = [self._row(w) for w in words]
        found = np.array([r is not None for r in rows], dtype=bool)
        out = np.zeros((len(words), self.vectors.shape[1]), dtype=self.vectors.dtype if self.keep_dtype else np.float32)
        if found.any():
            out[found] = self.vectors[[r for r in rows if r is not None]]
        return out, found

    def encode(self, texts, *, role=None, batch_size=None) -> np.ndarray:
        texts = list(texts)
        missing = [t for t in texts if t not in self.row_of]
        if missing:
            raise HarnessError(f"precomputed vectors {self.meta['name']!r} have no vector for {len(missing)} "
                               f"text(s), e.g. {missing[0][:80]!r}")
        return np.asarray(self.vectors[[self.row_of[t] for t in texts]], dtype=np.float32)


def checked_rows(vectors, keys: list[str], what: str, keys_file: Path | None = None) -> np.ndarray:
    """A finite float matrix with one row per key (the stored float dtype is kept); errors name the
    row by its key (and the line of `keys_file`)."""
    def locate(row: int) -> str:
        where = f", line {row + 1} of {keys_file}" if keys_file is not None else ""
        return f"key {keys[row][:60]!r}{where}" if row < len(keys) else "no key"
    arr = check_matrix(vectors, what, dtype=None, locate=locate)
    if len(keys) != len(arr):
        raise DataError(f"{what}: {len(arr)} rows but {len(keys)} keys", keys_file)
    return arr


def first_rows(keys: list[str]) -> dict[str, int]:
    """key -> its first row (the first occurrence wins on duplicates)."""
    row_of: dict[str, int] = {}
    for i, k in enumerate(keys):
        row_of.setdefault(k, i)
    return row_of


def read_keys(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError("keys file not found (one key per line expected)", path)
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\r\n") for line in f]


def load_with_keys(npy_path: Path, keys_path: Path, what: str) -> tuple[np.ndarray, list[str], DatasetRecord]:
    """(memory-mapped vectors, keys, record with both files' sha256); the vectors file is read first, so
    a missing one is reported as such, never as a missing keys file. The adapter checks the rows."""
    vectors = load_npy(npy_path, what, mmap=True)
    keys = read_keys(keys_path)
    rec = DatasetRecord(path=str(npy_path.parent))
    rec.add(npy_path, npy_path.parent)
    rec.add(keys_path, keys_path.parent)
    return vectors, keys, rec


def from_npy(spec: str) -> PrecomputedModel:
    """`vectors:<file.npy>` with keys in `<file>.ids.txt`, `<file>.txt` or `vocab.txt` beside it,
    or `vectors:<file.npy>,<keys.txt>`."""
    npy, _, keys_file = spec.partition(",")
    npy_path = Path(npy).expanduser()
    load_npy(npy_path, "precomputed vectors", mmap=True)   # a missing vectors file is named first
    if keys_file:
        keys_path = Path(keys_file).expanduser()
    else:
        candidates = [npy_path.with_suffix(".ids.txt"), npy_path.with_suffix(".txt"), npy_path.parent / "vocab.txt"]
        keys_path = next((c for c in candidates if c.is_file()), None)
        if keys_path is None:
            raise DataError(f"no keys file for the vectors (looked for {', '.join(c.name for c in candidates)} "
                            "beside it; or give one: vectors:<file.npy>,<keys.txt>)", npy_path)
    vectors, keys, rec = load_with_keys(npy_path, keys_path, "precomputed vectors")
    return PrecomputedModel(vectors, keys, name=npy_path.stem, revision="sha256:" + rec.sha256[npy_path.name][:16],
                            source=rec, keys_file=keys_path)
