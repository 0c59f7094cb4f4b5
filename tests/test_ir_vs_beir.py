"""tasks/metrics/ir.py against BEIR's own evaluator (beir 2.2.0 `EvaluateRetrieval.evaluate`) on the same
qrels and runs: nDCG, MAP, recall and precision at every k, within 1e-12 (BEIR rounds to 5 decimals, so
the comparison is on its rounding of our unrounded values)."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from tasks.metrics.ir import retrieval_scores

K_VALUES = [1, 3, 5, 10, 100]


def random_run(seed: int):
    rng = np.random.default_rng(seed)
    docs = [f"d{i}" for i in range(300)]
    qrels, run = {}, {}
    for q in range(40):
        rel = rng.choice(300, size=int(rng.integers(1, 6)), replace=False)
        qrels[f"q{q}"] = {docs[j]: int(rng.integers(1, 3)) for j in rel}
        picked = rng.choice(300, size=120, replace=False)
        scores = np.round(rng.normal(size=120), 2)          # rounded: ties, broken by doc id
        run[f"q{q}"] = {docs[j]: float(s) for j, s in zip(picked, scores)}
    return qrels, run


@pytest.mark.parametrize("seed", range(5))
def test_equal_to_beir_evaluate(seed):
    from beir.retrieval.evaluation import EvaluateRetrieval
    qrels, run = random_run(seed)
    ours, _ = retrieval_scores(qrels, run, K_VALUES, rounding=None)
    # BEIR mutates the run and drops identical ids by default: give it a copy and keep every id (as mteb)
    ndcg, _map, recall, precision = EvaluateRetrieval.evaluate(qrels, copy.deepcopy(run), K_VALUES,
                                                               ignore_identical_ids=False)
    for k in K_VALUES:
        for theirs, key in ((ndcg[f"NDCG@{k}"], f"ndcg_at_{k}"), (_map[f"MAP@{k}"], f"map_at_{k}"),
                            (recall[f"Recall@{k}"], f"recall_at_{k}"), (precision[f"P@{k}"], f"precision_at_{k}")):
            assert round(ours[key], 5) == pytest.approx(theirs, abs=1e-12), (key, ours[key], theirs)
