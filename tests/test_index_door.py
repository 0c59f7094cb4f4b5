"""One door to an index: tasks reach every index through `harness.registry.make_index`.

- No module under tasks/ imports faiss, hnswlib or adapters.indexes (function-level imports count).
- An index adapter written as one class and registered at run time (one line in
  `harness.registry.INDEXES`, a "module:attribute" string) is used, with no other edit, by
  retrieval (as the job's index), HNSWInsertionOrder and RankingShift (named in `indexes`).
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from adapters.indexes.base import VectorIndex, check_ef
from harness import registry
from harness.errors import HarnessError

TASKS = Path(__file__).resolve().parent.parent / "tasks"
FORBIDDEN = ("faiss", "hnswlib", "usearch", "lancedb", "adapters.indexes")
CALLS: list[tuple] = []   # what the toy index was asked to do


class BruteIndex(VectorIndex):
    """A toy ANN adapter: numpy brute force, with the HNSW study's parameters (M, ef_construction, ef)."""

    name = "toy-brute"
    BUILD_DEFAULTS = {"metric": "ip", "M": 16, "ef_construction": 128}
    QUERY_DEFAULTS = {"ef": 10}

    def _build(self, x, order, params):
        CALLS.append(("build", len(x), order is not None, params["M"], params["ef_construction"]))
        self._x = x
        return None

    def _search(self, q, k, params):
        check_ef(int(params["ef"]), k)
        CALLS.append(("search", len(q), k, params["ef"]))
        x64, q64 = self._x.astype(np.float64), q.astype(np.float64)
        d = (((q64[:, None, :] - x64[None]) ** 2).sum(-1) if self.build_params["metric"] == "l2"
             else -(q64 @ x64.T))
        pos = np.argsort(d, axis=1, kind="stable")[:, :k]
        return pos, np.take_along_axis(d, pos, 1).astype(np.float32)

    def _build_stats(self):
        return {"size_bytes": int(self._x.nbytes), "threads": 1, "library": "numpy"}


def toy_index(**params) -> BruteIndex:
    return BruteIndex(**params)


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(registry.INDEXES, "toy-brute", f"{__name__}:toy_index")
    CALLS.clear()
    return CALLS


def test_no_task_module_imports_an_index_library():
    found = []
    for path in sorted(TASKS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                    found.append(f"{path.relative_to(TASKS.parent)}:{node.lineno}: import {name}")
    assert not found, "tasks/ must reach indexes through harness.registry.make_index:\n" + "\n".join(found)


def test_runtime_index_is_used_by_retrieval(tmp_path, toy):
    from tests.test_retrieval import HashModel, small_set
    from tasks.retrieval import from_folder
    task = from_folder(str(small_set(tmp_path)), ann_top_k=20)
    task.load(None)
    index = registry.make_index("toy-brute", ef=20)
    assert index.spec() == {"name": "toy-brute", "exact": False, "build": {"metric": "ip", "M": 16,
                            "ef_construction": 128}, "query": {"ef": 20}}
    out = task.evaluate(HashModel(), index)
    assert ("build", 40, False, 16, 128) in toy and ("search", 8, 20, 20) in toy
    assert out.scores["index_recall_at_10"] == 1.0 and out.scores["index_recall_tie_at_10"] == 1.0
    assert out.scores["exact_ndcg_at_10"] == pytest.approx(out.scores["ndcg_at_10"], abs=1e-12)


def test_runtime_index_is_used_by_hnsw_insertion_order(toy):
    from tasks.hnsw_order import HNSWInsertionOrder
    t = HNSWInsertionOrder("HNSWInsertionOrder-toy", indexes=["hnswlib", {"name": "toy-brute", "label": "toy"}],
                           main_index="toy", orders=["random", "lid_desc", "given"], ef=[10, 20], main_ef=20,
                           builds=[{"M": 8, "ef_construction": 32}], lid_k=10,
                           source={"kind": "gmm", "n": 500, "nq": 30, "centers": 4, "dim": 8, "seed": 0})
    t.load(None)
    out = t.evaluate(None)
    builds = [c for c in toy if c[0] == "build"]
    assert len(builds) == 7 and all(c == ("build", 500, True, 8, 32) for c in builds)   # 5 random + lid + given
    assert [c[3] for c in toy if c[0] == "search"] == [10, 20] * 7                      # ef swept, no rebuild
    assert out.scores["recall_random_mean"] == out.scores["toy_recall_random_mean"] == 1.0
    assert {r["library"] for r in out.details["sweep"]} == {"hnswlib", "toy"}
    toy_spec = next(i for i in out.details["indexes"] if i["label"] == "toy")
    assert toy_spec["spec"]["name"] == "toy-brute" and toy_spec["spec"]["exact"] is False


def test_runtime_index_is_used_by_ranking_shift(tmp_path, toy):
    from tests.test_retrieval import HashModel, small_set
    from tasks.ranking_shift import RankingShiftTask
    folder = small_set(tmp_path)
    t = RankingShiftTask("RankingShift-toy", f"beir:{folder}", indexes=["toy-brute"], main_index="toy-brute")
    assert t.main_score == "toy-brute_ndcg_at_10"
    t.load(None)
    out = t.evaluate(HashModel())
    assert [c[3] for c in toy if c[0] == "search"] == [10, 20, 40]
    assert out.scores["toy-brute_ndcg_at_10"] == pytest.approx(out.scores["exact_ndcg_at_10"], abs=1e-12)
    assert out.scores["toy-brute_recall_tie_at_10"] == 1.0
    assert [r["library"] for r in out.details["runs"]] == ["toy-brute"] * 3


def test_index_specs_are_checked_at_load(toy):
    from tasks.hnsw_order import HNSWInsertionOrder
    src = {"kind": "gmm", "n": 200, "nq": 10, "centers": 3, "dim": 4, "seed": 0}

    def load(**params):
        HNSWInsertionOrder("T", source=src, **params).load(None)

    with pytest.raises(HarnessError, match="unknown index 'annoy'"):
        load(indexes=["annoy"], main_index="annoy")
    with pytest.raises(HarnessError, match=r"\['M'\] are set by the task"):
        load(indexes=[{"name": "toy-brute", "build": {"M": 4}}], main_index="toy-brute")
    with pytest.raises(HarnessError, match="unknown build parameter 'num_threads'|unknown parameter 'num_threads'"):
        load(indexes=[{"name": "toy-brute", "build": {"num_threads": 1}}], main_index="toy-brute")
    with pytest.raises(HarnessError, match="labels must be unique"):
        load(indexes=["hnswlib", "hnswlib"])
    with pytest.raises(HarnessError, match="main_index 'faiss' is not among"):
        load(main_index="faiss")
    with pytest.raises(HarnessError, match="exact index: unknown parameter 'M'"):   # not an HNSW-like index
        load(indexes=["exact"], main_index="exact")
