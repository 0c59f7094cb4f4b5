"""End to end: `run.py run --tasks SciFact --indexes exact,hnswlib,faiss-hnsw` writes one result per
(task, index), with the index spec, its stats and its recall@10 against exact search. Uses the shared
embedding cache, so SciFact is encoded at most once for the whole test session."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_run_scifact_under_three_indexes(data_root, minilm, embedding_cache, tmp_path):
    from tasks.retrieval import scifact
    task = scifact()
    task.load(data_root)
    minilm.encode(task.doc_texts, role="document")       # no-op when the cache already holds SciFact
    minilm.encode(task.query_texts, role="query")

    results = tmp_path / "results"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    cmd = [sys.executable, "run.py", "run", "--tasks", "SciFact", "--indexes", "exact,hnswlib,faiss-hnsw",
           "--results", str(results), "--cache-dir", str(embedding_cache.root), "--data-root", str(data_root),
           "--no-progress"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = sorted(p.name for p in (results / "all-MiniLM-L6-v2").glob("*.json"))
    assert files == ["SciFact__exact.json", "SciFact__faiss-hnsw.json", "SciFact__hnswlib.json"]

    res = {name: json.loads((results / "all-MiniLM-L6-v2" / f"SciFact__{name}.json").read_text())
           for name in ("exact", "hnswlib", "faiss-hnsw")}
    exact = res["exact"]
    assert exact["status"] == "ok" and exact["embedding_cache"]["encoded"] == 0   # all vectors from the cache
    assert exact["main_score"] == 0.64508 and exact["scores"]["recall_at_100"] == 0.925
    assert exact["index"] == {"name": "exact", "exact": True, "build": {"metric": "ip"},
                              "query": {"chunk_size": 50000, "max_memory_mb": None},
                              "point": "exact", "query_points": [{}]}
    for name in ("hnswlib", "faiss-hnsw"):
        r = res[name]
        assert r["status"] == "ok" and r["index"]["name"] == name and r["index"]["exact"] is False
        assert r["index"]["build"]["M"] == 16 and r["index"]["query"]["ef"] == 100
        assert {"size_bytes", "build_s", "threads"} <= set(r["index_stats"])
        assert 0.9 <= r["scores"]["index_recall_at_10"] <= 1.0
        assert r["scores"]["exact_ndcg_at_10"] == exact["scores"]["ndcg_at_10"]
        assert abs(r["main_score"] - exact["main_score"]) < 0.02
        assert "ndcg_at_1000" not in r["scores"] and "ndcg_at_100" in r["scores"]
        sidecar = results / "all-MiniLM-L6-v2" / f"SciFact__{name}.per_query_index_recall_at_10.npy"
        assert sidecar.is_file()
    # a second run resumes: every job skipped
    again = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.count("skipped") == 3, again.stdout
