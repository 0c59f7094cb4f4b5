"""The engine is open: a task of a new type, an index and a model, each one file under tests/ that
registers itself through $HARNESS_PLUGINS, are listed, run, ranked (the task) in the report and the
site, checked by the gate, and the index serves retrieval, HNSWInsertionOrder and RankingShift. Nothing
under harness/ names them: everything the engine needs comes from the plugin files and the results.

Everything runs through the CLI in subprocesses, as a user runs it.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
PLUGINS = "tests.toy_pair_task,tests.toy_index,tests.toy_bow_model,tests.toy_plugin"
TOY_PAIRS = "Toy pair classification"


def cli(*args, cwd=REPO, check=True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HARNESS_PLUGINS": PLUGINS, "PYTHONPATH": str(REPO), "HARNESS_PROGRESS": "0"}
    proc = subprocess.run([sys.executable, str(REPO / "run.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"run.py {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def write_data(root: Path) -> Path:
    """toy_pairs (paraphrase pairs) and a BEIR-layout folder, both built from one word list."""
    rng = np.random.default_rng(0)
    words = "cat dog bird fish tree car road house river cloud rain sun moon star food bread milk tea".split()
    (root / "toy_pairs").mkdir(parents=True)
    with open(root / "toy_pairs" / "test.jsonl", "w") as f:
        for i in range(60):
            a = list(rng.choice(words, 6))
            b = a[:4] + list(rng.choice(words, 2)) if i % 2 else list(rng.choice(words, 6))
            f.write(json.dumps({"sentence1": " ".join(a), "sentence2": " ".join(b), "label": i % 2}) + "\n")
    beir = root / "beir_toy"
    (beir / "qrels").mkdir(parents=True)
    docs = [" ".join(rng.choice(words, 8)) for _ in range(300)]
    with open(beir / "corpus.jsonl", "w") as f:
        for i, d in enumerate(docs):
            f.write(json.dumps({"_id": f"d{i}", "title": "", "text": d}) + "\n")
    with open(beir / "queries.jsonl", "w") as f, open(beir / "qrels" / "test.tsv", "w") as q:
        q.write("query-id\tcorpus-id\tscore\n")
        for i in range(40):
            f.write(json.dumps({"_id": f"q{i}", "text": " ".join(docs[i * 7].split()[:5])}) + "\n")
            q.write(f"q{i}\td{i * 7}\t1\n")
    return beir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("open")
    beir = write_data(tmp / "data")
    results, cache = tmp / "results", tmp / "cache"
    common = ["--results", str(results), "--cache-dir", str(cache), "--no-progress", "--data-root", str(tmp / "data")]
    cli("run", "--tasks", f"ToyPairs,beir:{beir}", "--models", "toy-bow,toy-hash", "--indexes", "exact,toy-pivots",
        *common)
    params = {"HNSWInsertionOrder-Synthetic": {"indexes": ["toy-pivots"], "main_index": "toy-pivots",
                                               "orders": ["random", "lid_desc"]}}
    cli("run", "--tasks", "HNSWInsertionOrder-Synthetic", "--models", "toy-bow", "--task-params", json.dumps(params),
        *common)
    return tmp, results, cache, beir


def test_plugins_are_listed():
    out = cli("list").stdout
    for name in ("ToyPairs", "toy-pivots", "toy-bow"):
        assert name in out, name


def test_new_task_type_runs_and_declares_itself(runs):
    _, results, _, _ = runs
    for model in ("toy-bow", "toy-hash"):
        r = json.loads((results / model / "ToyPairs.json").read_text())
        assert r["status"] == "ok" and r["task_type"] == "toy-pair-classification"
        assert r["declared"]["title"] == TOY_PAIRS and r["declared"]["ranked"] is True
        assert r["declared"]["scores"]["ap"] == {"higher_is_better": True, "tolerance": 0.01}
        assert 0.5 < r["main_score"] <= 1.0      # paraphrase pairs share 4 of 6 words


def test_toy_index_serves_retrieval(runs):
    _, results, _, beir = runs
    exact = json.loads(next((results / "toy-bow").glob("beir_*__exact.json")).read_text())
    toy = json.loads(next((results / "toy-bow").glob("beir_*__toy-pivots.json")).read_text())
    assert toy["status"] == "ok" and toy["index"]["name"] == "toy-pivots" and toy["index"]["exact"] is False
    assert 0 < toy["scores"]["index_recall_at_10"] <= 1
    assert toy["scores"]["exact_ndcg_at_10"] == pytest.approx(exact["scores"]["ndcg_at_10"], abs=1e-5)


def test_toy_index_serves_hnsw_insertion_order(runs):
    _, results, _, _ = runs
    r = json.loads((results / "toy-bow" / "HNSWInsertionOrder-Synthetic.json").read_text())
    assert r["status"] == "ok", r.get("error")
    libraries = {rec["library"] for rec in r["details"]["sweep"]}
    assert libraries == {"toy-pivots"}
    assert 0 < r["scores"]["toy-pivots_recall_random_mean"] <= 1
    assert r["main_score"] == r["scores"]["toy-pivots_recall_random_mean"]


def test_toy_index_serves_ranking_shift(runs, data_root):
    _, results, cache, _ = runs
    params = {"RankingShift-SciFact": {"indexes": ["toy-pivots"], "main_index": "toy-pivots"}}
    cli("run", "--tasks", "RankingShift-SciFact", "--models", "toy-bow", "--task-params", json.dumps(params),
        "--results", str(results), "--cache-dir", str(cache), "--no-progress", "--data-root", str(data_root))
    r = json.loads((results / "toy-bow" / "RankingShift-SciFact.json").read_text())
    assert r["status"] == "ok", r.get("error")
    assert {run["library"] for run in r["details"]["runs"]} == {"toy-pivots"}
    assert "toy-pivots_ndcg_at_10" in r["scores"] and r["main_score_name"] == "toy-pivots_ndcg_at_10"


def test_new_task_type_is_ranked_in_report_and_site(runs):
    tmp, results, _, _ = runs
    out = tmp / "report"
    cli("report", "--results", str(results), "--out", str(out), "--no-published")
    overall = list(csv.DictReader(open(out / "tables" / "overall.csv")))
    assert {r["Model"] for r in overall} >= {"toy-bow", "toy-hash"}
    assert all(r["Rank (Borda)"] for r in overall)
    toy = list(csv.DictReader(open(out / "tables" / "toy-pair-classification.csv")))
    assert "Rank (Borda)" in toy[0] and "ToyPairs" in toy[0]    # ranked, one column per task
    best = max(toy, key=lambda r: float(r["ToyPairs"]))
    assert best["Rank (Borda)"] == "1"
    md = (out / "leaderboard.md").read_text()
    assert f"## {TOY_PAIRS}" in md
    site = out / "site"
    index = (site / "index.html").read_text()
    assert TOY_PAIRS in index and "ToyPairs" in index
    assert list((site / "tasks").glob("ToyPairs-*.html"))


def test_new_task_type_is_checked_by_the_gate(runs):
    tmp, results, _, _ = runs
    baseline = tmp / "baseline"
    shutil.copytree(results, baseline, dirs_exist_ok=True)
    assert cli("gate", "--baseline", str(baseline), "--results", str(results)).returncode == 0
    current = tmp / "current"
    shutil.copytree(results, current, dirs_exist_ok=True)
    path = current / "toy-bow" / "ToyPairs.json"
    r = json.loads(path.read_text())
    r["main_score"] = r["scores"]["ap"] = r["main_score"] - 0.005     # within the declared 0.01
    path.write_text(json.dumps(r))
    assert cli("gate", "--baseline", str(baseline), "--results", str(current)).returncode == 0
    r["main_score"] = r["scores"]["ap"] = r["main_score"] - 0.05      # beyond it: a regression
    path.write_text(json.dumps(r))
    proc = cli("gate", "--baseline", str(baseline), "--results", str(current), check=False)
    assert proc.returncode == 1
    line = next(line for line in proc.stdout.splitlines() if line.startswith("REGRESSION"))
    assert "ToyPairs" in line and "ap" in line and "0.01" in line
