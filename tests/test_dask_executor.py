"""Dask executor on a real distributed.LocalCluster (2 worker processes, 1 thread each).

Cheap, deterministic jobs: STSBenchmark and SICK-R on a tiny data root, with `vectors:<file.npy>`
precomputed vectors keyed by the sentences (no model download, no shared cache touched).
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from harness import cli
from harness.runner import JobSpec, RunSettings, run, run_job

pytest.importorskip("distributed")

TASKS = ("STSBenchmark", "SICK-R")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A data root with two small STS sets and a vectors file covering every sentence."""
    root = tmp_path_factory.mktemp("dask-data")
    rng = np.random.default_rng(3)
    sentences = []
    for folder in ("stsbenchmark", "sickr"):
        (root / folder).mkdir()
        rows = []
        for i in range(24):
            s1, s2 = f"{folder} sentence {i} about topic {i % 5}", f"{folder} other sentence {i} near {i % 7}"
            rows.append({"sentence1": s1, "sentence2": s2, "score": float(rng.uniform(0, 5))})
            sentences += [s1, s2]
        (root / folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    vec_dir = tmp_path_factory.mktemp("dask-vectors")
    np.save(vec_dir / "tinyvecs.npy", rng.standard_normal((len(sentences), 16)).astype(np.float32))
    (vec_dir / "tinyvecs.ids.txt").write_text("\n".join(sentences) + "\n")
    return {"data_root": root, "model": f"vectors:{vec_dir / 'tinyvecs.npy'}",
            "cache": tmp_path_factory.mktemp("dask-cache")}


def _settings(tiny, results: Path) -> RunSettings:
    return RunSettings(results_dir=str(results), data_root=str(tiny["data_root"]), cache_dir=str(tiny["cache"]),
                       progress=False)


def _jobs(tiny) -> list[JobSpec]:
    return [JobSpec(tiny["model"], t) for t in TASKS]


def _result_files(folder: Path) -> dict[str, dict]:
    return {str(p.relative_to(folder)): json.loads(p.read_text()) for p in sorted(folder.rglob("*.json"))}


def _same_scores(a: dict[str, dict], b: dict[str, dict]) -> None:
    assert sorted(a) == sorted(b) and len(a) == len(TASKS)
    for name in a:
        ra, rb = a[name], b[name]
        assert ra["status"] == rb["status"] == "ok", (ra.get("error"), rb.get("error"))
        assert ra["scores"] == rb["scores"], name         # bit-identical floats
        for key in ("main_score", "job_key", "dataset", "model_revision", "params", "seed"):
            assert ra[key] == rb[key], (name, key)


@pytest.fixture(scope="module")
def local_results(tiny, tmp_path_factory):
    from harness.executors import InProcessExecutor
    out = tmp_path_factory.mktemp("local-results")
    outcomes = run(_jobs(tiny), _settings(tiny, out), InProcessExecutor())
    assert [o.status for o in outcomes] == ["ok", "ok"], [o.error for o in outcomes]
    return _result_files(out)


def test_cli_run_on_local_cluster_matches_local_run(tiny, local_results, tmp_path):
    """`run.py run --scheduler tcp://...` against a real LocalCluster: same result files as in-process."""
    import dask
    from distributed import LocalCluster
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
    try:
        out = tmp_path / "dask-results"
        rc = cli.main(["run", "--tasks", ",".join(TASKS), "--models", tiny["model"], "--data-root",
                       str(tiny["data_root"]), "--cache-dir", str(tiny["cache"]), "--results", str(out),
                       "--no-progress", "--scheduler", cluster.scheduler_address])
        workers_used = len(cluster.scheduler.workers)
    finally:
        cluster.close()
    assert rc == 0
    assert workers_used == 2
    _same_scores(_result_files(out), local_results)


# -- worker loss ------------------------------------------------------------------------------------
def flaky_job(job, settings, marker_dir: str = ""):
    """First attempt at STSBenchmark: announce this worker's pid and hang until killed from outside.
    SICK-R kills its own worker on every attempt (as an out-of-memory kill would)."""
    marker = Path(marker_dir or os.environ["FLAKY_MARKERS"])
    if job.task == "SICK-R":
        (marker / f"sickr-{os.getpid()}").write_text("")
        os._exit(1)
    first = marker / "stsb-pid"
    if not first.exists():
        first.write_text(str(os.getpid()))
        time.sleep(120)
    return run_job(job, settings)


def test_worker_killed_mid_job_is_retried_once(tiny, local_results, tmp_path):
    from functools import partial

    from harness.dask_executor import DaskExecutor
    markers = tmp_path / "markers"
    markers.mkdir()
    killed = []

    def killer():
        deadline = time.time() + 120
        pid_file = markers / "stsb-pid"
        while time.time() < deadline and not pid_file.exists():
            time.sleep(0.1)
        time.sleep(0.5)
        if pid_file.exists():
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    out = tmp_path / "results"
    executor = DaskExecutor("local", n_workers=2)
    t0 = time.time()
    outcomes = {o.spec.task: o for o in executor.map(partial(flaky_job, marker_dir=str(markers)), _jobs(tiny),
                                                      _settings(tiny, out))}
    thread.join(timeout=5)
    assert killed, "the test never killed a worker"
    assert time.time() - t0 < 110, "the killed job was not rescheduled (it waited for the sleep)"
    # killed once mid-job: retried on a worker and completed, same scores as the local run
    assert outcomes["STSBenchmark"].status == "ok", outcomes["STSBenchmark"].error
    files = _result_files(out)
    stsb = next(k for k in files if k.endswith("STSBenchmark.json"))
    local = next(k for k in local_results if k.endswith("STSBenchmark.json"))
    assert files[stsb]["scores"] == local_results[local]["scores"]
    # a job whose worker dies every time: given up after one retry, reported as an error, run completes
    sick = outcomes["SICK-R"]
    assert sick.status == "error" and "KilledWorker" in sick.error, sick.error
    assert len(list(markers.glob("sickr-*"))) == 2      # first attempt + exactly one retry


def test_unreachable_scheduler_is_a_clear_error(tiny, tmp_path):
    from harness.dask_executor import DaskExecutor
    from harness.errors import HarnessError
    ex = DaskExecutor("tcp://127.0.0.1:9", connect_timeout=2)   # discard port: nothing listens
    with pytest.raises(HarnessError, match="cannot reach the Dask scheduler"):
        list(ex.map(run_job, _jobs(tiny), _settings(tiny, tmp_path)))
