"""GloVe 840B vectors of exactly Caliskan et al.'s WEAT items (457 words, from the R package cbn).

`glove-cbn-items` reproduces the published WEAT 1-10 numbers (methods.md §4.1) because the vectors
are kept in float64 as stored: `lookup` returns the stored dtype instead of float32.
"""
from __future__ import annotations

import numpy as np

from harness.data import resolve_data_root
from harness.errors import DataError

from .word_vectors import WordVectors, from_folder

FOLDER = "cbn_weat_glove"


class ExactWordVectors(WordVectors):
    """Word vectors whose `lookup` keeps the stored precision (float64 here)."""

    def lookup(self, words):
        rows = [self._row(w) for w in words]
        found = np.array([r is not None for r in rows], dtype=bool)
        out = np.zeros((len(words), self.vectors.shape[1]), dtype=self.vectors.dtype)
        if found.any():
            out[found] = self.vectors[[r for r in rows if r is not None]]
        return out, found


def glove_cbn_items() -> ExactWordVectors:
    root = resolve_data_root()
    if root is None:
        raise DataError(f"glove-cbn-items needs the data root (--data-root or HARNESS_DATA) with {FOLDER}/")
    folder = root / FOLDER
    base = from_folder(f"{folder / 'item_vectors.npy'},{folder / 'item_vectors_words.txt'}", name="glove-cbn-items")
    # No lower-case fallback: the item lists are exact (names are capitalised in the vocabulary).
    return ExactWordVectors(base.vectors, base.vocab, name="glove-cbn-items", revision=base.meta["revision"],
                            lowercase_fallback=False, source=base.source)
