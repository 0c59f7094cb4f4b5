"""STS against the published MTEB numbers and against mteb 2.x's evaluator on the same vectors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.runner import JobSpec, RunSettings, run_job
from tasks.sts import biosses, sickr, sts_scores, stsbenchmark

from .conftest import CACHE_DIR

# Published all-MiniLM-L6-v2 results (mteb 1.12.75), ../shared/data/mteb_reference
PUBLISHED = {"STSBenchmark": 0.8203247283076371, "SICK-R": 0.7758245525469719, "BIOSSES": 0.8164041444909368}


@pytest.fixture(scope="module")
def sts_results(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    settings = RunSettings(results_dir=str(out), data_root=str(data_root), cache_dir=str(CACHE_DIR), progress=False)
    return {t: run_job(JobSpec("all-MiniLM-L6-v2", t), settings) for t in PUBLISHED}


@pytest.mark.parametrize("task,tol", [("STSBenchmark", 1e-6), ("SICK-R", 1e-6), ("BIOSSES", 0.005)])
def test_published_minilm_scores(sts_results, task, tol):
    outcome = sts_results[task]
    assert outcome.status == "ok", outcome.error
    result = json.loads(open(outcome.path).read())
    assert result["main_score_name"] == "cosine_spearman"
    assert abs(result["main_score"] - PUBLISHED[task]) <= tol, (result["main_score"], PUBLISHED[task])
    # provenance the result must carry
    assert result["dataset"]["sha256"]["test.jsonl"]
    assert result["versions"]["torch"] and result["model_revision"].startswith("sha256:")
    assert set(result["scores"]) >= {"cosine_pearson", "cosine_spearman", "manhattan_pearson",
                                      "manhattan_spearman", "euclidean_pearson", "euclidean_spearman"}


@pytest.mark.parametrize("factory", [stsbenchmark, sickr, biosses])
def test_matches_mteb_evaluator_on_same_vectors(data_root, minilm, factory):
    from datasets import Dataset, DatasetDict
    from mteb.abstasks.sts import AbsTaskSTS

    from .mteb_local import cached_vectors_encoder, local_task_metadata, run_mteb

    ours = factory()
    ours.load(data_root)
    s1, s2, gold = ours.pairs

    class LocalSTS(AbsTaskSTS):
        metadata = local_task_metadata("Local" + ours.name.replace("-", ""), "STS", "cosine_spearman")
        min_score, max_score = 0, 5

        def load_data(self, num_proc=None, **kw):
            self.dataset = DatasetDict({"test": Dataset.from_dict(
                {"sentence1": s1, "sentence2": s2, "score": gold.tolist()})})
            self.data_loaded = True

    theirs = run_mteb(LocalSTS(), cached_vectors_encoder(minilm))
    mine = ours.evaluate(minilm).scores
    for key in ("cosine_pearson", "cosine_spearman", "manhattan_pearson", "manhattan_spearman",
                "euclidean_pearson", "euclidean_spearman"):
        assert abs(mine[key] - theirs[key]) <= 1e-9, (key, mine[key], theirs[key])


def test_sts_scores_hand_case():
    # Perfectly monotone predictions -> Spearman 1; Pearson matches numpy's corrcoef.
    rng = np.random.default_rng(0)
    e1 = rng.standard_normal((20, 8))
    e2 = e1 + 0.1 * rng.standard_normal((20, 8))
    gold = rng.uniform(0, 1, 20)
    s = sts_scores(e1, e2, gold)
    cos = (e1 * e2).sum(1) / np.linalg.norm(e1, axis=1) / np.linalg.norm(e2, axis=1)
    assert s["cosine_pearson"] == pytest.approx(np.corrcoef(gold, cos)[0, 1], abs=1e-12)
    s2 = sts_scores(e1, e2, cos * 3 + 1)
    assert s2["cosine_spearman"] == pytest.approx(1.0)


def test_hub_loader_on_local_copy(data_root, tmp_path, monkeypatch):
    """The real loader (datasets.load_dataset) gives the same pairs as the jsonl reader."""
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    a, b = stsbenchmark(), stsbenchmark()
    a.load(data_root)
    rec = b.load_hub(str(data_root / "stsbenchmark"))
    assert rec.source == "hub"
    assert a.pairs[0] == b.pairs[0] and a.pairs[1] == b.pairs[1]
    np.testing.assert_array_equal(a.pairs[2], b.pairs[2])


# --- per-item results (issue 16) ------------------------------------------------------------------
def test_items_sidecar_reproduces_every_correlation(tmp_path):
    """One row per pair: gold (rescaled) and each prediction; every declared correlation recomputed from the
    sidecar is the reported one, bit for bit (the same functions on the same arrays)."""
    from tasks.sts import STSTask

    from . import toy_tasks
    from .item_checks import assert_items_reproduce
    from .toy_models import hash_model
    toy_tasks.write_sts(tmp_path, "toy", n=40)
    task = STSTask("Toy", "toy", "none/none", "none")
    task.load(tmp_path)
    out = task.evaluate(hash_model())
    declared = assert_items_reproduce(task, out, n_items=40, exact=tuple(out.scores))
    assert declared["columns"] == ["gold", "cosine", "manhattan", "euclidean"]
    assert declared["scores"]["cosine_spearman"] == {"statistic": "spearman", "columns": ["gold", "cosine"]}
    assert set(declared["scores"]) == set(out.scores)
    assert out.sidecars["items"][:, 0].tolist() == (task.pairs[2] / 5).tolist()


@pytest.mark.parametrize("task", list(PUBLISHED))
def test_published_runs_carry_items_and_intervals(sts_results, task):
    """The published reference runs: the items sidecar gives back the main score exactly, and the result
    holds its 95% interval (B and seed recorded) around it."""
    from harness.significance import load_items, select, statistic
    outcome = sts_results[task]
    result = json.loads(open(outcome.path).read())
    items = load_items(outcome.path, result)
    decl = result["declared"]["items"]
    main = decl["scores"]["cosine_spearman"]
    assert statistic(main["statistic"])(select(items, main, decl["columns"])) == result["main_score"]
    ci = result["intervals"]["cosine_spearman"]
    assert ci["low"] < result["main_score"] < ci["high"] and ci["level"] == 0.95 and ci["method"] == "BCa"
    assert ci["B"] == 2000 and ci["seed"] == 42 and ci["n_items"] == len(items)
