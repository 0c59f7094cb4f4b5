"""CLI: fast listing without heavy imports, help on every command, cache report."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from harness import registry
from harness.cli import main

from .conftest import REPO


def test_list_is_fast_and_imports_nothing_heavy():
    code = ("import runpy, sys; sys.argv=['run.py','list']; "
            "\ntry:\n    runpy.run_path('run.py', run_name='__main__')\nexcept SystemExit: pass\n"
            "heavy=[m for m in ('torch','numpy','faiss','sklearn','mteb','sentence_transformers','hnswlib') "
            "if m in sys.modules]; print('HEAVY', heavy)")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout
    assert "STSBenchmark" in out.stdout and "all-MiniLM-L6-v2" in out.stdout
    assert elapsed < 5  # ~0.1 s here; generous for a loaded CI machine


@pytest.mark.parametrize("cmd", ["list", "run", "cache"])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_run_help_documents_the_index_grid_grammar_and_is_fast():
    code = ("import sys; sys.argv=['run.py','run','--help']\nfrom harness.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "except SystemExit: pass\nheavy=[m for m in ('numpy','faiss','torch','yaml','adapters.indexes.base') "
            "if m in sys.modules]; print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout
    text = " ".join(out.stdout.split())
    for needle in ("--indexes GRID", "--index-config FILE", "NAME(build grid)[query grid]", "param=v1,v2;other=v",
                   '--indexes "exact,hnswlib(M=16,32;ef_construction=128)[ef=10,20,40,80]"', "docs/index-grids.md"):
        assert needle in text, needle


def test_list_indexes_shows_build_and_query_parameters_with_defaults(capsys):
    assert main(["list", "indexes"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["hnswlib"])
    assert lines[at + 1].startswith("      build: metric=ip, M=16, ef_construction=128, ")
    assert lines[at + 2].startswith("      query: ef=100")
    assert "max_memory_mb=null" in out   # exact's query parameters: values written as in a grid
    assert main(["list"]) == 0 and "build:" not in capsys.readouterr().out   # plain `list` imports no adapter


def test_every_registered_name_resolves_lazily():
    # each registry entry points at an importable module attribute (without calling it)
    for table in (registry.TASKS, registry.MODELS, registry.INDEXES, registry.TASK_PREFIXES,
                  registry.MODEL_PREFIXES, registry.INDEX_PREFIXES):
        for name, target in table.items():
            assert callable(registry.load_target(target)), name
    for suite, tasks in registry.SUITES.items():
        registry.check_names("task", tasks)


def test_suite_and_tasks_are_exclusive(capsys):
    assert main(["run", "--suite", "sts", "--tasks", "STSBenchmark"]) == 2
    assert "either --suite or --tasks" in capsys.readouterr().err


def test_cache_info_and_clear(tmp_path, capsys):
    from harness.cache import EmbeddingCache
    from harness.embedding import CachedModel

    from .toy_models import hash_model
    CachedModel(hash_model(), EmbeddingCache(tmp_path), progress=False).encode(["a", "b"])
    assert main(["cache", "info", "--cache-dir", str(tmp_path)]) == 0
    assert "2 vectors" in capsys.readouterr().out
    assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0
    assert EmbeddingCache(tmp_path).report() == []


def test_list_into_a_closed_pipe_ends_quietly():
    """`run.py list | head -1`: no BrokenPipeError traceback when the reader stops early."""
    out = subprocess.run(f"'{sys.executable}' run.py list | head -1", shell=True, cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout == "tasks:\n"
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr


# --- bad input on the command line: exit 2, one line naming what to fix, before any job runs -------------------

@pytest.fixture
def toy_run(tmp_path):
    from . import toy_tasks
    toy_tasks.write_sts(tmp_path / "data", "toy0")
    toy_tasks.register()
    return ["run", "--tasks", "ToySTS0", "--models", "toy-hash", "--data-root", str(tmp_path / "data"),
            "--results", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]


def _fails_before_any_job(args, capsys, tmp_path, *needles):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
    for needle in needles:
        assert needle in err[0], err[0]
    assert not (tmp_path / "results").exists(), "a job ran although the input was bad"
    return err[0]


@pytest.mark.parametrize("text,needles", [
    ('{bad', ["--task-params is not valid JSON", "column 2", '{"TaskName": {"param": value}}']),
    ('[1, 2]', ["must map task names to parameter objects"]),
    ('{"ToySTS0": 3}', ["must map task names to parameter objects"]),
    ('{"NoSuchTask": {}}', ["not in this run: NoSuchTask", "tasks of this run: ToySTS0"]),
    ('{"ToySTS0": {"nope": 1}}', ["task ToySTS0: unknown parameter(s) 'nope'; valid: batch_size"]),
])
def test_bad_task_params(toy_run, capsys, tmp_path, text, needles):
    _fails_before_any_job(toy_run + ["--task-params", text], capsys, tmp_path, *needles)


def _broken_model():
    raise RuntimeError("weights file is truncated")


def test_model_construction_errors_surface_at_plan_time(toy_run, capsys, tmp_path, monkeypatch):
    from harness import registry
    monkeypatch.setitem(registry.MODELS, "toy-broken", "tests.test_cli:_broken_model")
    args = toy_run[:]
    args[args.index("toy-hash")] = "toy-hash,toy-broken"
    _fails_before_any_job(args, capsys, tmp_path, "model 'toy-broken' cannot be constructed",
                          "RuntimeError: weights file is truncated")
    args[args.index("toy-hash,toy-broken")] = f"vectors:{tmp_path / 'nonexistent.npy'}"
    _fails_before_any_job(args, capsys, tmp_path, "nonexistent")


def test_data_root_reaches_model_factories_that_read_data(tmp_path, monkeypatch):
    """`--data-root` is handed to a model factory that declares `data_root` (word and item vectors)."""
    from harness import registry, runner
    monkeypatch.setitem(registry.MODELS, "toy-reads-data", "tests.test_cli:_data_model")
    _SEEN.clear()
    runner.release_model()
    runner.get_model("toy-reads-data", str(tmp_path))
    assert _SEEN == [tmp_path.resolve()]


_SEEN: list = []


def _data_model(data_root=None):
    from .toy_models import hash_model
    _SEEN.append(data_root)
    return hash_model()


def test_one_model_loaded_at_a_time(monkeypatch):
    """A run over many models releases each before the next loads (runner's single slot)."""
    import gc
    import weakref

    from harness import registry, runner
    monkeypatch.setitem(registry.MODELS, "toy-a", "tests.toy_models:hash_model")
    monkeypatch.setitem(registry.MODELS, "toy-b", "tests.toy_models:hash_model")
    runner.release_model()
    first = weakref.ref(runner.get_model("toy-a"))
    assert runner.get_model("toy-a") is first()   # same model: kept for the next job
    runner.get_model("toy-b")
    gc.collect()
    assert first() is None, "the previous model is still referenced"
