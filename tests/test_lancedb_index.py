"""LanceDB adapters: flat search equals exact search, IVF-PQ / HNSW-SQ reach sane recall, the database
folder is removed whatever happens, and bad parameters / folders fail with a clear error."""
from __future__ import annotations

import gc
import os
import sys

import numpy as np
import pytest

from adapters.indexes.base import IndexParamError
from adapters.indexes.exact import ExactIndex
from harness import registry
from harness.errors import HarnessError
from tasks.metrics.ann import recall_at_k as ann_recall

pytest.importorskip("lancedb")
from adapters.indexes import lancedb_index as ldb  # noqa: E402


def low_rank(n, d=32, rank=8, seed=0, normalise=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, d)) + 0.1 * rng.standard_normal((n, d))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True) if normalise else x


X, Q = low_rank(2000, seed=1), low_rank(40, seed=2)


def recall(metric, ids, k=10):
    gt_ids, gt_d = ExactIndex(metric=metric).build(X).search(Q, 50)
    return ann_recall(gt_ids, gt_d, ids, k)[1].mean()


@pytest.mark.parametrize("metric", ["ip", "cosine", "l2"])
def test_flat_equals_exact_search(metric, tmp_path):
    labels = np.arange(len(X), dtype=np.int64) * 7 + 3
    idx = registry.make_index("lancedb-flat", metric=metric, path=str(tmp_path)).build(X, labels)
    ids, d = idx.search(Q, 10)
    gt_ids, gt_d = ExactIndex(metric=metric).build(X, labels).search(Q, 10)
    np.testing.assert_array_equal(ids, gt_ids)           # no ties in this data
    np.testing.assert_allclose(d, gt_d, rtol=1e-5, atol=1e-5)
    one = idx.search(Q[:1], 10)                          # one query: LanceDB returns no query_index column
    np.testing.assert_array_equal(one[0], gt_ids[:1])
    st = idx.stats()
    assert st["deterministic"] is True and st["threads"] == 1 and st["library"].startswith("lancedb ")
    assert st["size_bytes"] >= X.nbytes and idx.is_exact
    idx.close()


def test_ivf_pq_recall_and_refine(tmp_path):
    idx = ldb.LanceDBIVFPQ(metric="cosine", num_partitions=8, sample_rate=200, num_sub_vectors=8,
                           path=str(tmp_path)).build(X)
    assert idx.stats()["num_sub_vectors"] == 8 and idx.stats()["deterministic"] is False
    plain = recall("cosine", idx.search(Q, 10, nprobes=8)[0])
    refined = recall("cosine", idx.search(Q, 10, nprobes=8, refine_factor=10)[0])
    few = recall("cosine", idx.search(Q, 10, nprobes=1, refine_factor=10)[0])
    assert 0.3 < plain < 1.0 and refined >= plain and refined >= 0.95 and few <= refined
    # defaults: LanceDB's num_sub_vectors rule (dim / 16) and sqrt(n) partitions within its n // sample_rate
    # cap (2000 // 256 = 7), nprobes 20 within the partitions; the values used are in stats
    default = ldb.LanceDBIVFPQ(path=str(tmp_path)).build(X)
    assert default.stats()["num_sub_vectors"] == 2 and default.stats()["num_partitions"] == 7
    np.testing.assert_array_equal(default.search(Q, 10)[0], default.search(Q, 10, nprobes=7)[0])
    with pytest.raises(IndexParamError, match=r"lancedb-ivf-pq index: parameter nprobes=8 .*1\.\.7"):
        default.search(Q, 10, nprobes=8)


def test_ivf_pq_partitions_above_lancedb_cap_are_refused(tmp_path):
    # LanceDB would log "training 7 of the 16 requested IVF partitions" and build 7: refuse instead
    with pytest.raises(IndexParamError, match=r"lancedb-ivf-pq index: parameter num_partitions=16 .*1\.\.7 for 2000 "
                                              r"vectors at sample_rate=256"):
        ldb.LanceDBIVFPQ(num_partitions=16, path=str(tmp_path)).build(X)
    assert os.listdir(tmp_path) == []
    built = ldb.LanceDBIVFPQ(num_partitions=16, sample_rate=125, path=str(tmp_path)).build(X)
    assert built.stats()["num_partitions"] == 16


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_hnsw_sq_recall_and_ef_sweep(metric, tmp_path):
    idx = ldb.LanceDBHNSWSQ(metric=metric, M=12, ef_construction=64, path=str(tmp_path)).build(X)
    r10, r100 = (recall(metric, idx.search(Q, 10, ef=ef)[0]) for ef in (10, 100))
    assert r100 >= 0.9 and r10 <= r100 + 0.02
    assert recall(metric, idx.search(Q, 10, ef=100, refine_factor=4)[0]) >= 0.97
    # LanceDB's HNSW levels are unseeded: builds may differ (said in stats), searches on one build repeat
    np.testing.assert_array_equal(idx.search(Q, 10, ef=20)[0], idx.search(Q, 10, ef=20)[0])
    assert idx.stats()["deterministic"] is False and idx.stats()["index_type"] == "IvfHnswSq"
    assert ldb.LanceDBHNSWSQ(num_partitions=4).spec()["build"]["num_partitions"] == 4


def test_order_and_ids_are_mapped(tmp_path):
    perm = np.random.default_rng(3).permutation(len(X))
    labels = np.arange(len(X), dtype=np.int64)[::-1].copy()
    ids, _ = ldb.LanceDBIndex(metric="l2", path=str(tmp_path)).build(X, labels, order=perm).search(Q, 5)
    np.testing.assert_array_equal(ids, ExactIndex(metric="l2").build(X, labels).search(Q, 5)[0])


def test_database_folder_removed_on_close_gc_rebuild_and_failure(tmp_path, monkeypatch):
    idx = ldb.LanceDBIndex(path=str(tmp_path)).build(X[:200])
    first = idx.folder
    assert os.path.dirname(first) == str(tmp_path) and os.listdir(first)
    idx.build(X[:300])                                   # a rebuild replaces the folder
    assert not os.path.exists(first) and os.path.isdir(idx.folder)
    second = idx.folder
    idx.close()
    assert not os.path.exists(second)
    with pytest.raises(HarnessError, match="search after close"):
        idx.search(Q, 3)
    third = ldb.LanceDBIndex(path=str(tmp_path)).build(X[:200]).folder
    gc.collect()                                          # the unreferenced index is collected: folder gone
    assert not os.path.exists(third)

    def broken(self, params):
        raise RuntimeError("simulated LanceDB failure")
    monkeypatch.setattr(ldb.LanceDBIVFPQ, "_index_config", broken)
    with pytest.raises(HarnessError, match="lancedb-ivf-pq index: LanceDB build failed in path=.*simulated"):
        ldb.LanceDBIVFPQ(num_partitions=4, sample_rate=64, path=str(tmp_path)).build(X[:300])
    assert os.listdir(tmp_path) == []


def test_folder_removed_at_interpreter_exit(tmp_path):
    import subprocess
    code = ("import sys, numpy as np; sys.path.insert(0, '.');"
            "from adapters.indexes.lancedb_index import LanceDBIndex;"
            f"idx = LanceDBIndex(path={str(tmp_path)!r}).build(np.eye(4, dtype=np.float32));"
            "print(idx.folder); import os; assert os.path.isdir(idx.folder)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert not os.path.exists(out.stdout.strip()) and os.listdir(tmp_path) == []


def test_not_writable_folder_is_a_clear_error(tmp_path):
    a_file = tmp_path / "not_a_folder"
    a_file.write_text("x")
    for path in (str(a_file), str(tmp_path / "missing")):
        with pytest.raises(IndexParamError, match=r"lancedb-ivf-pq index: parameter path=.*writable folder"):
            ldb.LanceDBIVFPQ(path=path).check()            # plan time, before any build
    if os.path.isdir("/proc"):
        # a folder the OS refuses to create in, even for root (access() alone says yes to root)
        with pytest.raises(IndexParamError, match=r"lancedb-flat index: parameter path='/proc'.*cannot create"):
            ldb.LanceDBIndex(path="/proc").build(X[:50])
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(IndexParamError, match="parameter path="):
            ldb.LanceDBIndex(path=str(ro)).check()


@pytest.mark.parametrize("cls,build,query,dim,param", [
    (ldb.LanceDBIVFPQ, {"num_partitions": 8}, {"nprobes": 9}, None, "nprobes"),
    (ldb.LanceDBIVFPQ, {"num_sub_vectors": 5}, None, 32, "num_sub_vectors"),
    (ldb.LanceDBIVFPQ, {"num_bits": 6}, None, None, "num_bits"),
    (ldb.LanceDBIVFPQ, {"num_partitions": 0}, None, None, "num_partitions"),
    (ldb.LanceDBIVFPQ, {}, {"refine_factor": 0}, None, "refine_factor"),
    (ldb.LanceDBHNSWSQ, {}, {"nprobes": 2}, None, "nprobes"),
    (ldb.LanceDBHNSWSQ, {"M": 1}, None, None, "M"),
    (ldb.LanceDBHNSWSQ, {}, {"ef": 0}, None, "ef"),
    (ldb.LanceDBIndex, {"threads": 0}, None, None, "threads"),
])
def test_out_of_range_parameters_fail_at_plan_time(cls, build, query, dim, param):
    with pytest.raises(IndexParamError, match=f"{cls.name} index: parameter {param}=.*valid"):
        cls(**build).check(query_points=[query] if query else (), dim=dim, k=10)


def test_unknown_parameters_ef_below_k_and_too_many_partitions(tmp_path):
    with pytest.raises(IndexParamError,
                       match="lancedb-flat index: unknown parameter 'nprobes'; valid: metric, path, threads"):
        registry.make_index("lancedb-flat", nprobes=4)
    with pytest.raises(IndexParamError, match="lancedb-ivf-pq index: unknown query parameter 'ef'"):
        ldb.LanceDBIVFPQ().check(query_points=[{"ef": 10}])
    with pytest.raises(ValueError, match="ef must be >= k"):
        ldb.LanceDBHNSWSQ().check(query_points=[{"ef": 5}], k=10)
    with pytest.raises(IndexParamError, match=r"lancedb-hnsw-sq index: parameter ef=20 .*k \* refine_factor = 30"):
        ldb.LanceDBHNSWSQ().check(query_points=[{"ef": 20, "refine_factor": 3}], k=10)
    with pytest.raises(IndexParamError, match=r"lancedb-ivf-pq index: parameter num_partitions=64 .*1\.\.50"):
        ldb.LanceDBIVFPQ(num_partitions=64, path=str(tmp_path)).build(X[:50])
    with pytest.raises(IndexParamError, match=r"lancedb-hnsw-sq index: parameter num_partitions=51 .*1\.\.50"):
        ldb.LanceDBHNSWSQ(num_partitions=51, path=str(tmp_path)).build(X[:50])
    assert os.listdir(tmp_path) == []                    # refused before any folder was made
    with pytest.raises(IndexParamError, match="lancedb-ivf-pq index: parameter num_sub_vectors=5"):
        ldb.LanceDBIVFPQ(num_sub_vectors=5, num_partitions=4, path=str(tmp_path)).build(X[:100])


def test_threads_is_read_once_per_process(tmp_path):
    ldb.LanceDBIndex(path=str(tmp_path)).build(X[:20])   # LanceDB started with threads=1 in this process
    assert os.environ["LANCE_CPU_THREADS"] == "1"
    with pytest.raises(IndexParamError, match="lancedb-flat index: parameter threads=2 .*once per process"):
        ldb.LanceDBIndex(threads=2).check()
