"""Runner: planning, result files, resume by job_key, error isolation, crash safety."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from harness.cli import main
from harness.results import iter_results, read_result
from harness.runner import JobSpec, RunSettings, run, run_job
from harness.executors import InProcessExecutor, ProcessPoolExecutor

from . import toy_tasks
from .conftest import REPO


@pytest.fixture
def toy_root(tmp_path):
    for i in range(4):
        toy_tasks.write_sts(tmp_path / "data", f"toy{i}", seed=i)
    toy_tasks.register()
    return tmp_path


def settings(root, **kw):
    return RunSettings(results_dir=str(root / "results"), data_root=str(root / "data"),
                       cache_dir=str(root / "cache"), progress=False, **kw)


def test_result_file_contract(toy_root):
    o = run_job(JobSpec("toy-hash", "ToySTS0"), settings(toy_root))
    assert o.status == "ok"
    r = json.loads(open(o.path).read())
    for field in ("task", "task_version", "task_type", "split", "model", "model_revision", "index",
                  "main_score_name", "main_score", "scores", "seed", "params", "dataset", "versions",
                  "timings_s", "job_key", "status", "error", "created_at"):
        assert field in r, field
    assert r["status"] == "ok" and r["error"] is None and r["index"] is None
    assert r["dataset"]["sha256"]["test.jsonl"] and len(r["job_key"]) == 64
    assert o.path.endswith("toy-hash/ToySTS0.json")


def test_resume_skips_same_job_key_and_redoes_on_change(toy_root):
    s = settings(toy_root)
    first = run_job(JobSpec("toy-hash", "ToySTS0"), s)
    again = run_job(JobSpec("toy-hash", "ToySTS0"), s)
    assert again.status == "skipped" and again.main_score == first.main_score
    assert run_job(JobSpec("toy-hash", "ToySTS0"), settings(toy_root, overwrite=True)).status == "ok"
    # a changed data file changes the job key: the job is redone, not served stale
    toy_tasks.write_sts(toy_root / "data", "toy0", seed=99)
    redone = run_job(JobSpec("toy-hash", "ToySTS0"), s)
    assert redone.status == "ok" and redone.main_score != first.main_score


def test_failed_job_recorded_and_others_continue(toy_root, monkeypatch):
    monkeypatch.setenv("TOY_FAIL_ON", "toy0-")  # the toy model raises on ToySTS0's texts only
    (toy_root / "data" / "toy1" / "test.jsonl").write_text('{"sentence1": "x"}\n')  # bad data for ToySTS1
    jobs = [JobSpec("toy-hash", f"ToySTS{i}") for i in range(3)]
    outcomes = run(jobs, settings(toy_root), InProcessExecutor())
    by_task = {o.spec.task: o for o in outcomes}
    assert by_task["ToySTS1"].status == "error" and by_task["ToySTS1"].bad_input
    assert "missing field 'sentence2'" in by_task["ToySTS1"].error
    stored = read_result(by_task["ToySTS1"].path)
    assert stored["status"] == "error" and "toy1/test.jsonl:1" in stored["error"]
    assert by_task["ToySTS0"].status == "error" and "toy model failure" in by_task["ToySTS0"].error
    assert by_task["ToySTS2"].status == "ok"  # the jobs around the failures completed
    monkeypatch.delenv("TOY_FAIL_ON")
    # an error result is retried on the next run
    again = run_job(JobSpec("toy-hash", "ToySTS0"), settings(toy_root))
    assert again.status == "ok"


def test_nan_vectors_from_adapter_fail_the_job_clearly(toy_root, monkeypatch):
    monkeypatch.setenv("TOY_NAN_ON", "toy2-")
    o = run_job(JobSpec("toy-hash", "ToySTS2"), settings(toy_root, overwrite=True))
    assert o.status == "error" and "non-finite value" in o.error and "toy-hash" in o.error


def test_cli_exit_codes(toy_root, capsys):
    base = ["run", "--data-root", str(toy_root / "data"), "--results", str(toy_root / "results"),
            "--cache-dir", str(toy_root / "cache"), "--no-progress", "--models", "toy-hash"]
    assert main(base + ["--tasks", "ToySTS0,ToySTS2"]) == 0
    out = capsys.readouterr().out
    assert "ToySTS0" in out and "cosine_spearman" in out
    assert main(base + ["--tasks", "NoSuchTask"]) == 2
    assert "valid tasks" in capsys.readouterr().err
    assert main(["run", "--data-root", str(toy_root / "missing")] + base[3:] + ["--tasks", "ToySTS0"]) == 2


def test_process_pool_gives_same_scores(toy_root):
    jobs = [JobSpec("toy-hash", f"ToySTS{i}") for i in range(2)]
    local = {o.spec: o.main_score for o in run(jobs, settings(toy_root), InProcessExecutor())}
    os.environ["HARNESS_PLUGINS"] = "tests.toy_plugin"  # spawned workers register the toy entries on import
    try:
        pooled = run(jobs, settings(toy_root, overwrite=True), ProcessPoolExecutor(2))
    finally:
        del os.environ["HARNESS_PLUGINS"]
    assert all(o.status == "ok" for o in pooled), [o.error for o in pooled]
    assert {o.spec: o.main_score for o in pooled} == local


SCRIPT = """
import sys
sys.path.insert(0, {repo!r})
from tests import toy_tasks
toy_tasks.register()
from harness.cli import main
sys.exit(main(["run", "--tasks", "ToySTS0,ToySTS1,ToySTS2,ToySTS3", "--models", "toy-slow", "--data-root", {data!r},
               "--results", {results!r}, "--cache-dir", {cache!r}, "--no-progress"]))
"""


def test_sigkill_mid_run_loses_no_finished_result(toy_root):
    results = toy_root / "results"
    script = SCRIPT.format(repo=str(REPO), data=str(toy_root / "data"), results=str(results),
                           cache=str(toy_root / "cache"))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(results.rglob("ToySTS*.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.name: read_result(p) for p in results.rglob("*.json")}
    assert 2 <= len(finished) < 4, "kill should land mid-run"
    assert all(r is not None and r["status"] == "ok" for r in finished.values()), "no partial or corrupt result"
    # nothing else but the sidecars of finished results (<stem>.<name>.npy, e.g. the per-item `items`)
    assert not [p for p in results.rglob("*") if p.is_file() and not p.name.startswith(".")
                and p.suffix != ".json" and p.name.split(".")[0] + ".json" not in finished]
    # re-run: finished jobs are skipped, the rest complete
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [l for l in proc.stdout.splitlines() if l.startswith("toy-slow")]
    assert sum(" skipped " in l for l in lines) == len(finished)
    assert sum(" ok " in l for l in lines) == 4 - len(finished)
    assert len([r for _, r in iter_results(results)]) == 4


def test_warm_path_of_the_engine_imports_nothing_heavy(toy_root):
    """A fully cached run pays only for what it uses: the engine's path (plan, cache look-up, result schema,
    write, resume) loads no progress-bar, scientific or model library of its own (issue 13, item 8). The
    task here scores with numpy alone, so anything heavy would come from the engine."""
    data, results, cache = (str(toy_root / d) for d in ("data", "results", "cache"))
    code = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
import numpy as np
from harness import registry
from harness.data import DatasetRecord, read_jsonl
from tasks.base import Task, TaskOutput

class Mean(Task):
    name, type, main_score = "Mean", "toy", "mean"
    def load(self, root):
        rec = DatasetRecord(path=root)
        self.texts = [r["sentence1"] for _, r in read_jsonl(rec.add(f"{{root}}/toy0/test.jsonl", root))]
        return rec
    def evaluate(self, model, index=None):
        return TaskOutput({{"mean": float(model.encode(self.texts).mean())}})

registry.TASKS["Mean"] = "__main__:Mean"
registry.MODELS["toy-hash"] = "tests.toy_models:hash_model"
before = set(sys.modules)
from harness.runner import RunSettings, plan, run
from harness.executors import InProcessExecutor
settings = RunSettings(results_dir={results!r}, data_root={data!r}, cache_dir={cache!r}, progress=False)
jobs = plan(["Mean"], ["toy-hash"], data_root={data!r})
for overwrite, status in ((False, "ok"), (True, "ok"), (False, "skipped")):   # cold, warm, resume
    settings.overwrite = overwrite
    outcomes = run(jobs, settings, InProcessExecutor())
    assert [o.status for o in outcomes] == [status], [o.error for o in outcomes]
heavy = sorted({{m.split(".")[0] for m in set(sys.modules) - before if m.split(".")[0] in
                ("tqdm", "sklearn", "scipy", "torch", "pandas", "faiss", "hnswlib", "sentence_transformers")
                or m == "pydantic.main"}})
print("HEAVY", heavy)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, HARNESS_PROGRESS="0"))
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout, out.stdout


def test_index_points_that_would_share_a_result_file_are_refused():
    from harness.errors import HarnessError
    from harness.runner import _check_distinct_paths
    jobs = [JobSpec("m", "T", 'x(s="a b")'), JobSpec("m", "T", 'x(s="a;b")')]   # both x_s=_a_b as a file name
    with pytest.raises(HarnessError, match=r"index points .* would write the same result file m/T__x_s=_a_b\.json"):
        _check_distinct_paths(jobs, {"T": "T"})
    _check_distinct_paths([JobSpec("m", "T", "x(s=a)"), JobSpec("n", "T", "x(s=a)")], {"T": "T"})


def test_a_non_sweeping_task_gets_one_query_point_per_job(toy_root):
    o = run_job(JobSpec("toy-hash", "ToySTS0", "exact[chunk_size=10,20]"), settings(toy_root))
    assert o.status == "error" and "holds 2 query points, but task ToySTS0 does not sweep" in o.error
