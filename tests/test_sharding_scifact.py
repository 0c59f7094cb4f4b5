"""Issue 18's acceptance run: SciFact on a 2-worker Dask LocalCluster with the packaged all-MiniLM-L6-v2.

The corpus and queries are encoded in shards by both workers (counts in the result), the vectors are
byte-identical to a single-process encode, and nDCG@10 equals the published 0.64508. The single-process
vectors come from the default embedding cache when README command 1 filled it (CI runs it first), otherwise
they are encoded here, in this process (two more minutes). Skips without ../shared/data.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness import cli
from harness.cache import EmbeddingCache
from harness.data import resolve_data_root

pytest.importorskip("distributed")
ROOT = resolve_data_root(None)
pytestmark = pytest.mark.skipif(ROOT is None or not (Path(ROOT) / "scifact").is_dir(),
                                reason="needs ../shared/data/scifact")
MODEL = "all-MiniLM-L6-v2"


def _single_process_vectors(task, model, tmp_path) -> dict:
    """role -> vectors of `task.texts_to_encode()` as one process encodes them (default cache, else here)."""
    from harness.embedding import CachedModel
    out = {}
    for role, texts in task.texts_to_encode():
        vecs = EmbeddingCache().cached_vectors(model.meta, texts, role)
        if vecs is None:
            vecs = CachedModel(model, EmbeddingCache(tmp_path / "single"), progress=False).encode(texts, role=role)
        out[role] = np.asarray(vecs)
    return out


def test_scifact_sharded_over_two_dask_workers(tmp_path):
    from harness.registry import make_model, make_task
    cache, results = tmp_path / "cache", tmp_path / "results"
    rc = cli.main(["run", "--tasks", "SciFact", "--models", MODEL, "--scheduler", "local", "--workers", "2",
                   "--cache-dir", str(cache), "--results", str(results), "--no-progress"])
    assert rc == 0
    result = json.loads(next(results.rglob("SciFact*.json")).read_text())
    assert result["status"] == "ok" and result["scores"]["ndcg_at_10"] == pytest.approx(0.64508, abs=5e-6)
    block = result["sharded_encoding"]
    assert block["texts"] == 5183 + 300 and not block["failed"]
    assert block["workers"] == 2 and all(w["shards"] >= 1 for w in block["by_worker"].values()), block
    assert sum(w["texts"] for w in block["by_worker"].values()) == block["texts"]
    assert result["embedding_cache"]["encoded"] == 0          # the job found every vector in the shared cache

    task, model = make_task("SciFact"), make_model(MODEL)
    task.load(ROOT)
    single = _single_process_vectors(task, model, tmp_path)
    for role, texts in task.texts_to_encode():
        sharded = EmbeddingCache(cache).cached_vectors(model.meta, texts, role)
        assert sharded is not None, f"{role} vectors missing from the shared cache"
        differing = int((sharded != single[role]).any(axis=1).sum())
        assert sharded.tobytes() == single[role].tobytes(), f"{role}: {differing} of {len(texts)} rows differ"
