"""GloVe 840B vectors of exactly Caliskan et al.'s WEAT items (457 words, from the R package cbn).

`glove-cbn-items` reproduces the published WEAT 1-10 numbers (methods.md §4.1) because the vectors
are kept in float64 as stored: `lookup` returns the stored dtype instead of float32.
"""
from __future__ import annotations

from .word_vectors import WordVectors, data_folder, load_folder

FOLDER = "cbn_weat_glove"


class ExactWordVectors(WordVectors):
    """Word vectors whose `lookup` keeps the stored precision (float64 here)."""
    keep_dtype = True


def glove_cbn_items(*, data_root=None) -> ExactWordVectors:
    folder = data_folder("glove-cbn-items", FOLDER, data_root)
    # No lower-case fallback: the item lists are exact (names are capitalised in the vocabulary).
    return load_folder(folder / "item_vectors.npy", folder / "item_vectors_words.txt", cls=ExactWordVectors,
                       name="glove-cbn-items", lowercase_fallback=False)
