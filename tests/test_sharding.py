"""Sharded encoding (harness/sharding.py): a job's texts encoded in shards by every worker before it runs.

Tiny STS data sets with toy models (no downloads): shards cover every text once, skip what the cache holds
and jobs already done; on a 2-worker Dask LocalCluster both workers encode shards, the scores equal those of
an unsharded in-process run, and a worker killed mid-shard costs nothing (the job completes, every vector is
in the cache exactly once). The SciFact acceptance run with the real model is tests/test_sharding_scifact.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.runner import JobSpec, RunSettings, run
from harness.sharding import plan_shards

PLUGINS = "tests.toy_bow_model,tests.toy_killable_model"
TASKS = ("STSBenchmark", "SICK-R")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("shard-data")
    rng = np.random.default_rng(5)
    for folder in ("stsbenchmark", "sickr"):
        (root / folder).mkdir()
        rows = [{"sentence1": f"{folder} first sentence {i} on topic {i % 5}" + " word" * (i % 9),
                 "sentence2": f"{folder} second sentence {i} near {i % 7}", "score": float(rng.uniform(0, 5))}
                for i in range(24)]
        rows.append(dict(rows[0]))   # a repeated pair: its texts are encoded once
        (root / folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(autouse=True)
def plugins(monkeypatch):
    monkeypatch.setenv("HARNESS_PLUGINS", PLUGINS)
    import importlib
    for module in PLUGINS.split(","):
        importlib.import_module(module)


def _settings(data_root, tmp_path, **kw) -> RunSettings:
    return RunSettings(results_dir=str(tmp_path / "results"), data_root=str(data_root),
                       cache_dir=str(tmp_path / "cache"), progress=False, **kw)


def _cache_digests(cache_dir: Path) -> list[bytes]:
    """Every digest of every complete cache shard (keys files), repeats included."""
    out = []
    for keys in Path(cache_dir).rglob("shard-*.keys.npy"):
        out += np.load(keys, allow_pickle=False).tolist()
    return out


def _scores(results: Path) -> dict:
    return {p.name: json.loads(p.read_text())["scores"] for p in sorted(results.rglob("*.json"))}


def test_plan_covers_every_text_once_and_skips_cached_and_done(data_root, tmp_path):
    from harness.cache import EmbeddingCache, text_digests
    from harness.executors import InProcessExecutor
    from harness.runner import get_model
    settings = _settings(data_root, tmp_path)
    jobs = [JobSpec("toy-bow", t) for t in TASKS]
    plan = plan_shards(jobs, settings, shard_size=10)
    texts = [t for s in plan.shards for t in s.texts]
    assert len(texts) == len(set(texts)) == 2 * 2 * 24     # 24 distinct pairs per set, the repeat once
    assert all(len(s.texts) <= 10 for s in plan.shards) and [s.of for s in plan.shards][0] == len(plan.shards)
    lengths = [len(t) for t in texts]
    assert lengths == sorted(lengths, reverse=True)          # longest first: heavy shards start first
    assert plan.texts[("toy-bow", "STSBenchmark")] == 48
    # half the texts already cached: only the others are planned
    model = get_model("toy-bow")
    EmbeddingCache(settings.cache_dir).store(model.meta, None).put(
        text_digests(texts[::2]),
        np.asarray(model.encode(texts[::2]), dtype=np.float32))
    again = [t for s in plan_shards(jobs, settings, shard_size=10).shards for t in s.texts]
    assert sorted(again) == sorted(texts[1::2])
    # a job already done (same job key): none of its texts are planned
    run([JobSpec("toy-bow", "STSBenchmark")], settings, InProcessExecutor())
    left = plan_shards(jobs, settings, shard_size=10)
    assert {task for s in left.shards for task, _ in s.tasks} == {"SICK-R"}
    assert sum(n for s in left.shards for _, n in s.tasks) == sum(t.startswith("sickr") for t in texts[1::2])


def test_in_process_sharding_records_counts_and_keeps_scores(data_root, tmp_path):
    from harness.executors import InProcessExecutor
    jobs = [JobSpec("toy-bow", t) for t in TASKS]
    plain = run(jobs, _settings(data_root, tmp_path / "plain", shard_size=0), InProcessExecutor())
    sharded = run(jobs, _settings(data_root, tmp_path / "sharded", shard_size=7), InProcessExecutor())
    assert [o.status for o in plain + sharded] == ["ok"] * 4
    assert _scores(tmp_path / "plain" / "results") == _scores(tmp_path / "sharded" / "results")
    result = json.loads(Path(sharded[0].path).read_text())
    block = result["sharded_encoding"]
    assert block["texts"] == 48 and block["shards"] >= 7 and block["shard_size"] == 7   # its 48 among 96 texts
    assert sum(w["texts"] for w in block["by_worker"].values()) == 48 and not block["failed"]
    assert result["embedding_cache"]["encoded"] == 0      # the job found every vector in the cache
    assert "sharded_encoding" not in json.loads(Path(plain[0].path).read_text())


def run_with_a_worker_killed_mid_shard(executor, data_root, tmp_path, monkeypatch) -> set:
    """Run both tasks on `executor` (2 workers) while the first shard's worker is SIGKILLed: every job ok, no
    shard failed (the lost one ran again), every vector cached exactly once, scores equal to an unsharded
    in-process run. Returns the workers that encoded shards."""
    from harness.executors import InProcessExecutor
    kill_dir = tmp_path / "kill"
    kill_dir.mkdir()
    monkeypatch.setenv("TOY_KILL_DIR", str(kill_dir))       # inherited by the worker processes
    monkeypatch.setenv("TOY_ENCODE_SLEEP", "0.2")
    jobs = [JobSpec("toy-killable", t) for t in TASKS]
    with executor:
        outcomes = run(jobs, _settings(data_root, tmp_path / "sharded", shard_size=6), executor)
    assert (kill_dir / "killed").exists(), "no worker was killed: the test proves nothing"
    assert [o.status for o in outcomes] == ["ok", "ok"], [o.error for o in outcomes]
    blocks = [json.loads(Path(o.path).read_text())["sharded_encoding"] for o in outcomes]
    for block in blocks:
        assert block["texts"] == 48 and block["shards"] >= 8 and not block["failed"], block   # the lost one re-run
        assert sum(w["texts"] for w in block["by_worker"].values()) == 48
    digests = _cache_digests(tmp_path / "sharded" / "cache")
    assert len(digests) == len(set(digests)) == 96, "the cache must hold every vector exactly once"
    monkeypatch.delenv("TOY_KILL_DIR")
    plain = run(jobs, _settings(data_root, tmp_path / "plain", shard_size=0), InProcessExecutor())
    assert [o.status for o in plain] == ["ok", "ok"]
    assert _scores(tmp_path / "sharded" / "results") == _scores(tmp_path / "plain" / "results")
    return {w for block in blocks for w in block["by_worker"]}


def test_local_cluster_shards_on_both_workers_and_survives_a_killed_worker(data_root, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from harness.dask_executor import DaskExecutor
    workers = run_with_a_worker_killed_mid_shard(DaskExecutor("local", n_workers=2), data_root, tmp_path, monkeypatch)
    assert len(workers) >= 2, workers                                           # both workers took shards


def test_cli_max_memory_and_shard_size_change_no_score_and_no_job_key(tmp_path, monkeypatch):
    """`--max-memory` (exact search in chunks of a few rows) and `--shard-size` change how, never what: same
    scores, same job keys as a plain run; bad values are exit-2 errors naming the flag."""
    from harness import cli
    from tests.test_retrieval import write_beir
    rng = np.random.default_rng(0)
    docs = [{"_id": f"d{i}", "title": "", "text": f"doc {i} about topic {i % 6} " + "word " * int(rng.integers(1, 9))}
            for i in range(300)]
    queries = [{"_id": f"q{i}", "text": f"question on topic {i % 6}"} for i in range(12)]
    qrels = [f"q{i}\td{j}\t1" for i in range(12) for j in range(i % 6, 300, 37)]
    folder = write_beir(tmp_path / "beir", docs, queries, qrels)
    base = ["run", "--tasks", f"beir:{folder}", "--models", "toy-bow", "--no-progress",
            "--cache-dir", str(tmp_path / "cache")]
    assert cli.main(base + ["--results", str(tmp_path / "plain")]) == 0
    assert cli.main(base + ["--results", str(tmp_path / "small"), "--max-memory", "0.002", "--shard-size", "50"]) == 0
    plain, small = (next((tmp_path / d).rglob("*.json")) for d in ("plain", "small"))
    plain, small = json.loads(plain.read_text()), json.loads(small.read_text())
    assert small["scores"] == plain["scores"] and small["job_key"] == plain["job_key"]
    assert small["sharded_encoding"]["shards"] == 0   # the first run cached every text: nothing to encode
    assert "sharded_encoding" not in plain            # one process, no --shard-size: no shards
    import os
    assert "HARNESS_MAX_MEMORY_MB" not in os.environ   # the budget lasts one job
    for bad in (["--max-memory", "0"], ["--shard-size", "-1"]):
        assert cli.main(base + ["--results", str(tmp_path / "bad")] + bad) == 2


def test_a_job_with_missing_data_fails_alone_when_sharding(data_root, tmp_path):
    """Planning the shards skips a job it cannot prepare: that job fails with its own error, the others run."""
    from harness.executors import InProcessExecutor
    jobs = [JobSpec("toy-bow", "STSBenchmark"), JobSpec("toy-bow", "BIOSSES")]   # no biosses folder here
    out = run(jobs, _settings(data_root, tmp_path, shard_size=5), InProcessExecutor())
    assert [o.status for o in out] == ["ok", "error"], [o.error for o in out]
    assert "BIOSSES data folder not found" in out[1].error
    assert json.loads(Path(out[0].path).read_text())["sharded_encoding"]["texts"] == 48


class _RecordingModel:
    """Random vectors; remembers every text it was asked to encode (which texts, not how often)."""
    meta = {"name": "recording", "dim": 8}

    def __init__(self):
        self.seen: set = set()
        self.rng = np.random.default_rng(0)

    def encode(self, texts, role=None, batch_size=None):
        self.seen.update(texts)
        return self.rng.normal(size=(len(texts), 8)).astype(np.float32)


@pytest.mark.parametrize("task_name", ["TRECClassification", "TRECClassification-kNN", "TRECCoarseClustering",
                                       "TRECCoarseClustering.v2"])
def test_declared_texts_are_exactly_what_evaluate_encodes(task_name):
    """Classification (undersampled train rows + eval split) and clustering (all rows, or the fast protocol's
    seeded subset) declare the texts their evaluate encodes, so sharding encodes nothing the job does not use
    and leaves it nothing to encode."""
    from harness import registry

    from .conftest import SHARED_DATA
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    task = registry.make_task(task_name)
    task.load(SHARED_DATA)
    if task_name.endswith(".v2"):
        task.params["max_documents_to_embed"] = 1000   # a strict subset: the seeded draw must match
        task.params["n_bootstrap"] = 2
    declared = {t for _, texts in task.texts_to_encode() for t in texts}
    model = _RecordingModel()
    task.evaluate(model)
    assert model.seen == declared
    assert len(declared) > 100


def test_cli_cache_dir_also_holds_a_compressed_models_base_vectors(data_root, tmp_path, monkeypatch):
    """`compressed:<model>@...` reads its base model's vectors through the default cache: with --cache-dir, that
    is the given folder (not .cache/ under the working directory), for the run only."""
    import os

    from harness import cli
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HARNESS_CACHE", raising=False)
    args = ["run", "--tasks", "STSBenchmark", "--models", "compressed:toy-bow@dim=16+float16", "--no-progress",
            "--data-root", str(data_root), "--results", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "c")]
    assert cli.main(args) == 0
    folders = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "c").iterdir())
    assert folders == ["toy-bow", "toy-bow@dim=16+float16"], folders        # base and derived vectors, both here
    assert not (tmp_path / ".cache").exists()
    assert "HARNESS_CACHE" not in os.environ
