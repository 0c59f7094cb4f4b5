"""The local process pool (`--workers N`) survives a worker killed mid-job, as the Dask executor does: the jobs
running then are run again one at a time; a job that kills its worker even alone becomes an "error" outcome
naming the cause; every other job completes, and a run with sharded encoding loses no shard."""
from __future__ import annotations

from harness.executors import ProcessPoolExecutor
from tests.toy_killable_model import die_or_echo

from .test_sharding import PLUGINS, data_root, run_with_a_worker_killed_mid_shard  # noqa: F401  (fixture)


def _by_name(outcomes) -> dict:
    out = {}
    for o in outcomes:
        if isinstance(o, tuple):
            out[o[1]] = "ok"
        else:
            out[o.spec[0]] = o.error
    return out


def test_a_killed_worker_costs_only_the_job_that_kills_it(tmp_path):
    jobs = [("a", "ok"), ("b", "once"), ("c", "ok"), ("d", "always"), ("e", "ok"), ("f", "ok")]
    with ProcessPoolExecutor(2) as pool:
        first = _by_name(pool.map(die_or_echo, jobs, {"kill_dir": str(tmp_path), "sleep": 0.3}))
        # the pool the context keeps is a fresh, working one after the losses
        again = _by_name(pool.map(die_or_echo, [("g", "ok")], {"kill_dir": str(tmp_path), "sleep": 0}))
    assert (tmp_path / "b").exists(), "job b never killed its worker: the test proves nothing"
    assert set(first) == {"a", "b", "c", "d", "e", "f"}                # every job has exactly one outcome
    assert {k: v for k, v in first.items() if k != "d"} == dict.fromkeys("abcef", "ok")
    assert "BrokenProcessPool" in first["d"] and "also when it ran alone" in first["d"], first["d"]
    assert again == {"g": "ok"}


def test_without_a_context_each_map_has_its_own_pool(tmp_path):
    out = _by_name(ProcessPoolExecutor(2).map(die_or_echo, [("x", "once"), ("y", "ok")],
                                              {"kill_dir": str(tmp_path), "sleep": 0.1}))
    assert out == {"x": "ok", "y": "ok"} and (tmp_path / "x").exists()


def test_sharded_run_on_a_process_pool_survives_a_killed_worker(data_root, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HARNESS_PLUGINS", PLUGINS)   # the spawned workers register the toy models too
    run_with_a_worker_killed_mid_shard(ProcessPoolExecutor(2), data_root, tmp_path, monkeypatch)
