"""The package installs: a wheel built from this checkout, installed into an empty folder, runs the
`embedding-harness` console script (`list` and one STS job) from another folder, without the
checkout on sys.path."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from .conftest import REPO

SOURCES = ("pyproject.toml", "README.md", "harness", "tasks", "adapters")


def _sh(cmd, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(folder the wheel was installed into, environment that sees only it)."""
    pytest.importorskip("setuptools")
    src, wheels, target = (tmp_path_factory.mktemp(n) for n in ("src", "wheels", "target"))
    for name in SOURCES:   # a copy: building writes build/ and *.egg-info beside the sources
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    _sh(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)])
    (wheel,) = wheels.glob("embedding_harness-*.whl")
    _sh(pip + ["install", "--no-deps", "--target", str(target), str(wheel)])
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "HARNESS_PLUGINS", "HARNESS_DATA", "HARNESS_CACHE")}
    env.update(PYTHONPATH=str(target), HARNESS_PROGRESS="0", PYTHONSAFEPATH="1")
    return target, env


def test_wheel_holds_every_package_and_data_file(installed):
    target, _ = installed
    for package in ("harness", "tasks", "tasks/metrics", "tasks/plots", "adapters/models", "adapters/indexes"):
        assert (target / package / "__init__.py").is_file(), package
    assert (target / "tasks" / "data" / "seat_templates.json").is_file()
    shipped = {p.relative_to(REPO / "harness") for p in (REPO / "harness" / "templates").rglob("*") if p.is_file()
               and "__pycache__" not in p.parts}
    assert shipped and all((target / "harness" / p).is_file() for p in shipped), "templates missing from the wheel"


def test_console_script_lists_and_runs_an_sts_job_from_another_folder(installed, tmp_path):
    target, env = installed
    script = target / "bin" / "embedding-harness"
    assert script.is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _sh([sys.executable, "-c", "import harness, tasks.metrics; print(harness.__file__)"], cwd=elsewhere,
                env=env).stdout.strip()
    assert where.startswith(str(target)), f"harness imported from {where}, not the installed copy"

    listing = _sh([str(script), "list"], cwd=elsewhere, env=env).stdout
    assert "STSBenchmark" in listing and "all-MiniLM-L6-v2" in listing

    # a tiny STSBenchmark and precomputed vectors for its sentences (no model download)
    root = tmp_path / "data"
    (root / "stsbenchmark").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = [{"sentence1": f"sentence {i} about topic {i % 4}", "sentence2": f"another sentence {i} near {i % 3}",
             "score": float(rng.uniform(0, 5))} for i in range(20)]
    (root / "stsbenchmark" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    sentences = sorted({r[k] for r in rows for k in ("sentence1", "sentence2")})
    np.save(tmp_path / "vecs.npy", rng.standard_normal((len(sentences), 8)).astype(np.float32))
    (tmp_path / "vecs.ids.txt").write_text("\n".join(sentences) + "\n")

    out = _sh([str(script), "run", "--tasks", "STSBenchmark", "--models", f"vectors:{tmp_path / 'vecs.npy'}",
               "--data-root", str(root), "--results", "results", "--cache-dir", "cache", "--no-progress"],
              cwd=elsewhere, env=env)
    assert " ok " in out.stdout, out.stdout + out.stderr
    (path,) = (elsewhere / "results").rglob("STSBenchmark.json")
    result = json.loads(path.read_text())
    assert result["status"] == "ok" and -1 <= result["main_score"] <= 1
