"""Word similarity's per-item results: one row per pair of the file, the cosine NaN where a word is out of
the model's vocabulary, so pairs line up across models; the statistics leave those pairs out, as the score does."""
from __future__ import annotations

import numpy as np

from tasks.word_similarity import WordSimilarityTask

from .item_checks import assert_items_reproduce


class LookupModel:
    meta = {"name": "lookup"}

    def __init__(self, vocab):
        self.vocab = vocab

    def lookup(self, words):
        found = np.array([w in self.vocab for w in words])
        return np.stack([self.vocab.get(w, np.zeros(4)) for w in words]), found


def test_items_sidecar_with_out_of_vocabulary_pairs(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    pairs = [(words[i], words[(i * 7 + 3) % 30], float(rng.uniform(0, 10))) for i in range(30)]
    folder = tmp_path / "word_similarity"
    folder.mkdir()
    (folder / "toy.tsv").write_text("".join(f"{a}\t{b}\t{s:.2f}\n" for a, b, s in pairs))
    vocab = {w: rng.normal(size=4) for w in words[:25]}          # w25..w29 are out of vocabulary
    task = WordSimilarityTask("Toy", "toy.tsv")
    task.load(tmp_path)
    out = task.evaluate(LookupModel(vocab))
    declared = assert_items_reproduce(task, out, n_items=30, exact=("spearman", "pearson"))
    assert declared["columns"] == ["gold", "cosine"]
    items = out.sidecars["items"]
    oov = np.isnan(items[:, 1])
    assert oov.sum() == out.details["n_oov_pairs"] > 0 and not np.isnan(items[:, 0]).any()
    assert items[:, 0].tolist() == [round(s, 2) for _, _, s in pairs]
