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
