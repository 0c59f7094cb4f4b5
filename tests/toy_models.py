"""Cheap deterministic models for runner/CLI tests (no torch): a hashed bag of character trigrams."""
from __future__ import annotations

import hashlib
import os

import numpy as np

from adapters.models.callable import CallableModel

DIM = 32


def trigram_vectors(texts, role=None):
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, t in enumerate(texts):
        s = f"  {t.lower()}  "
        for j in range(len(s) - 2):
            h = int.from_bytes(hashlib.md5(s[j:j + 3].encode()).digest()[:4], "little")
            out[i, h % DIM] += 1.0 if (h >> 31) & 1 else -1.0
        out[i, 0] += 0.5  # never an all-zero row
    # a test sets TOY_FAIL_ON to make the model fail (crash/error-path tests)
    if os.environ.get("TOY_FAIL_ON") and any(os.environ["TOY_FAIL_ON"] in t for t in texts):
        raise RuntimeError("toy model failure requested")
    if os.environ.get("TOY_NAN_ON") and any(os.environ["TOY_NAN_ON"] in t for t in texts):
        out[0, 0] = np.nan
    return out


def hash_model():
    return CallableModel(trigram_vectors, name="toy-hash", dim=DIM, revision="1")


class TableModel:
    """Vectors looked up by text: a stand-in model with no network (fast tests)."""
    meta = {"name": "table"}

    def __init__(self, table):
        self.table = table

    def encode(self, texts, role=None, batch_size=None):
        return np.stack([self.table[t] for t in texts]).astype(np.float32)
