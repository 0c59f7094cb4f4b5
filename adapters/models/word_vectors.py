"""Static word vectors (`.npy` + vocabulary): exact word lookup, and mean-of-tokens for texts.

`lookup(words)` is what word-level tasks (word similarity, WEAT, direct bias) use; it reports which
words are out of vocabulary. `encode(texts)` averages the vectors of the text's known tokens so the
same vectors can run sentence tasks too; a text with no known token gets a zero row (counted in
`oov_texts`), which cosine-based tasks must treat as undefined.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from harness.data import DatasetRecord, resolve_data_root
from harness.errors import DataError, HarnessError

from .base import make_meta
from .precomputed import load_npy, read_keys

_TOKEN = re.compile(r"[\w'-]+", re.UNICODE)


class WordVectors:
    def __init__(self, vectors: np.ndarray, vocab: list[str], *, name: str, revision: str = "0",
                 lowercase_fallback: bool = True, source: DatasetRecord | None = None):
        if vectors.ndim != 2 or len(vocab) != len(vectors):
            raise HarnessError(f"word vectors {name!r}: {len(vectors)} rows vs {len(vocab)} vocabulary entries")
        self.vectors = vectors
        self.vocab = vocab
        self.row_of: dict[str, int] = {}
        for i, w in enumerate(vocab):
            self.row_of.setdefault(w, i)  # first occurrence wins on duplicates
        self.lowercase_fallback = lowercase_fallback
        self.source = source
        self.oov_texts = 0
        self.meta = make_meta(name, revision=revision, dim=int(vectors.shape[1]), kind="word-vectors",
                              pooling="mean-of-tokens", lowercase_fallback=lowercase_fallback)

    def _row(self, word: str):
        r = self.row_of.get(word)
        if r is None and self.lowercase_fallback:
            r = self.row_of.get(word.lower())
        return r

    def lookup(self, words):
        """(float32 vectors, found mask) for single words; OOV rows are zeros."""
        rows = [self._row(w) for w in words]
        found = np.array([r is not None for r in rows], dtype=bool)
        out = np.zeros((len(words), self.vectors.shape[1]), dtype=np.float32)
        if found.any():
            out[found] = self.vectors[[r for r in rows if r is not None]]
        return out, found

    def all_vectors(self) -> np.ndarray:
        return np.asarray(self.vectors, dtype=np.float32)

    def encode(self, texts, *, role=None, batch_size=None) -> np.ndarray:
        out = np.zeros((len(texts), self.vectors.shape[1]), dtype=np.float32)
        for i, text in enumerate(texts):
            rows = [r for r in (self._row(t) for t in ([text] if text in self.row_of else _TOKEN.findall(text)))
                    if r is not None]
            if rows:
                out[i] = np.asarray(self.vectors[rows], dtype=np.float64).mean(axis=0)
            else:
                self.oov_texts += 1
        return out


def from_folder(spec: str, *, name: str | None = None) -> WordVectors:
    """`words:<folder>` holding `vectors.npy` + `vocab.txt`, or `words:<file.npy>,<vocab.txt>`."""
    npy, _, vocab = spec.partition(",")
    npy_path = Path(npy).expanduser()
    if npy_path.is_dir():
        folder = npy_path
        npy_path, vocab_path = folder / "vectors.npy", folder / "vocab.txt"
    else:
        vocab_path = Path(vocab) if vocab else npy_path.parent / "vocab.txt"
    rec = DatasetRecord(path=str(npy_path.parent))
    rec.add(npy_path, npy_path.parent)
    rec.add(vocab_path, vocab_path.parent)
    return WordVectors(load_npy(npy_path), read_keys(vocab_path), name=name or npy_path.parent.name,
                       revision="sha256:" + rec.sha256[npy_path.name][:16], source=rec)


def w2v_googlenews_subset() -> WordVectors:
    """word2vec GoogleNews 300-d, the 13,013-word WEFE subset in the shared data root."""
    root = resolve_data_root()
    if root is None:
        raise DataError("w2v-googlenews-subset needs the data root (--data-root or HARNESS_DATA) with "
                        "w2v_googlenews_wefe_subset/")
    return from_folder(str(root / "w2v_googlenews_wefe_subset"), name="w2v-googlenews-subset")
