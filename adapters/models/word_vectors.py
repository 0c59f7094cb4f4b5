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
from harness.errors import DataError

from .base import make_meta
from .precomputed import PrecomputedModel, load_with_keys

_TOKEN = re.compile(r"[\w'-]+", re.UNICODE)


class WordVectors(PrecomputedModel):
    def __init__(self, vectors: np.ndarray, vocab: list[str], *, name: str, revision: str = "0",
                 lowercase_fallback: bool = True, source: DatasetRecord | None = None, keys_file: Path | None = None):
        super().__init__(vectors, vocab, name=name, revision=revision, source=source, keys_file=keys_file)
        self.vocab = self.keys
        self.lowercase_fallback = lowercase_fallback
        self.oov_texts = 0
        self.meta = make_meta(name, revision=revision, dim=int(self.vectors.shape[1]), kind="word-vectors",
                              pooling="mean-of-tokens", lowercase_fallback=lowercase_fallback)

    def _row(self, word: str):
        r = self.row_of.get(word)
        if r is None and self.lowercase_fallback:
            r = self.row_of.get(word.lower())
        return r

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


def load_folder(npy_path: Path, vocab_path: Path, cls=WordVectors, **kwargs) -> WordVectors:
    """`cls` over a vectors file and its vocabulary, with the vectors' sha256 as the revision."""
    vectors, vocab, rec = load_with_keys(npy_path, vocab_path, "word vectors")
    kwargs.setdefault("name", npy_path.parent.name)
    return cls(vectors, vocab, revision="sha256:" + rec.sha256[npy_path.name][:16], source=rec,
               keys_file=vocab_path, **kwargs)


def from_folder(spec: str, *, name: str | None = None) -> WordVectors:
    """`words:<folder>` holding `vectors.npy` + `vocab.txt`, or `words:<file.npy>,<vocab.txt>`."""
    npy, _, vocab = spec.partition(",")
    npy_path = Path(npy).expanduser()
    if npy_path.is_dir():
        npy_path, vocab_path = npy_path / "vectors.npy", npy_path / "vocab.txt"
    else:
        vocab_path = Path(vocab).expanduser() if vocab else npy_path.parent / "vocab.txt"
    return load_folder(npy_path, vocab_path, **({"name": name} if name else {}))


def data_folder(model: str, folder: str, data_root=None) -> Path:
    """`folder` under the data root: `data_root` (the runner's --data-root) first, then the usual
    fallbacks of harness.data.resolve_data_root; the error says which model needs what."""
    root = resolve_data_root(data_root)
    if root is None:
        raise DataError(f"{model} needs the data root (--data-root or HARNESS_DATA) with {folder}/")
    return Path(root) / folder


def w2v_googlenews_subset(*, data_root=None) -> WordVectors:
    """word2vec GoogleNews 300-d, the 13,013-word WEFE subset in the shared data root."""
    return from_folder(str(data_folder("w2v-googlenews-subset", "w2v_googlenews_wefe_subset", data_root)),
                       name="w2v-googlenews-subset")
