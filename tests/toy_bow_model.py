"""A toy model, written the way a user adds one: this file plus one registry line (on import, as a
`$HARNESS_PLUGINS` module). Bag of words: each lower-cased word gets a fixed pseudo-random vector
(seeded by its md5), a text is the sum of its words' vectors; no torch, deterministic, fast.
"""
from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import numpy as np

from adapters.models.callable import CallableModel
from harness import registry

DIM = 48


@lru_cache(maxsize=None)
def _word_vector(word: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.md5(word.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(DIM)


def bag_of_words(texts) -> np.ndarray:
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()) or ["<empty>"]:
            out[i] += _word_vector(word)
    return out


def toy_bow() -> CallableModel:
    return CallableModel(bag_of_words, name="toy-bow", dim=DIM, revision="1")


registry.MODELS["toy-bow"] = "tests.toy_bow_model:toy_bow"
