"""Vector-index adapters: exact search against numpy brute force, HNSW adapters against their libraries
and the facts of methods.md §1.3 (determinism, order, ef rule), ANN recall rules of §6.1. All fast."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from adapters.indexes.base import IndexParamError
from adapters.indexes.exact import ExactIndex, merge_topk
from adapters.indexes.faiss_hnsw import FaissHNSWIndex
from adapters.indexes.faiss_hnsw_sq import FaissHNSWSQIndex
from adapters.indexes.faiss_ivf import FaissIVFFlatIndex, FaissIVFPQIndex
from adapters.indexes.hnswlib_index import HnswlibIndex
from harness import registry
from harness.errors import HarnessError
from tasks.metrics.ann import recall_at_k as ann_recall


def low_rank(n, d=32, rank=6, seed=0, normalise=True):
    """Structured data (iid Gaussian has no neighbour structure, environment.md §4)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, d)) + 0.1 * rng.standard_normal((n, d))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True) if normalise else x


def brute(q, x, k, metric):
    if metric == "l2":
        d = ((q.astype(np.float64)[:, None, :] - x.astype(np.float64)[None]) ** 2).sum(-1)
    else:
        d = -(q.astype(np.float64) @ x.astype(np.float64).T)
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(d, idx, axis=1)


# -- exact ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("chunk", [None, 7, 64, 1000])
def test_exact_matches_numpy_bruteforce_for_any_chunk(metric, chunk):
    x, q = low_rank(300, seed=1), low_rank(25, seed=2)
    idx = ExactIndex(metric=metric, chunk_size=chunk).build(x)
    ids, dist = idx.search(q, 10)
    ref_ids, ref_d = brute(q, x, 10, metric)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-5, atol=1e-5)
    assert (ids == ref_ids).mean() > 0.99   # float32 vs float64 may swap near-ties only
    assert dist.dtype == np.float32 and ids.dtype == np.int64


def test_exact_chunked_equals_unchunked_and_memory_limit_sets_chunk():
    x, q = low_rank(500, seed=3), low_rank(40, seed=4)
    idx = ExactIndex(chunk_size=None).build(x)
    full = idx.search(q, 50)
    for params in ({"chunk_size": 33}, {"max_memory_mb": 0.01}):
        ids, d = idx.search(q, 50, **params)
        np.testing.assert_array_equal(d, full[1])
        np.testing.assert_array_equal(ids, full[0])
    assert idx._chunk(40, {"max_memory_mb": 0.01, "chunk_size": None}) == int(0.01 * 2**20 // (4 * (32 + 40)))


def test_exact_on_memmap_is_not_copied(tmp_path):
    x = low_rank(200, seed=5)
    path = tmp_path / "x.npy"
    np.save(path, x)
    mm = np.load(path, mmap_mode="r")
    idx = ExactIndex(chunk_size=50).build(mm)
    assert np.shares_memory(idx._x, mm)   # a view of the file, not a copy
    np.testing.assert_array_equal(idx.search(x[:5], 3)[0], ExactIndex().build(x).search(x[:5], 3)[0])


def test_ids_are_mapped_and_cosine_normalises():
    x = low_rank(100, normalise=False, seed=6)
    labels = np.arange(100, dtype=np.int64) * 10 + 7
    ids, d = ExactIndex(metric="cosine").build(x, labels).search(x[:3], 1)
    np.testing.assert_array_equal(ids[:, 0], labels[:3])
    np.testing.assert_allclose(d[:, 0], -1.0, atol=1e-6)


def test_merge_topk_keeps_k_smallest_and_first_list_on_ties():
    d, i = merge_topk(np.array([[1.0, 3.0]]), np.array([[10, 30]]), np.array([[1.0, 2.0]]), np.array([[11, 20]]), 3)
    np.testing.assert_array_equal(i, [[10, 11, 20]])
    np.testing.assert_array_equal(d, [[1.0, 1.0, 2.0]])


# the checks base.py runs for every adapter (small IVF settings so 50 rows can train them)
SMALL_IVF = [partial(FaissIVFFlatIndex, nlist=4), partial(FaissIVFPQIndex, nlist=4, M=4, nbits=4)]


@pytest.mark.filterwarnings("ignore:.*fewer than faiss's 39 per centroid")
@pytest.mark.parametrize("cls", [ExactIndex, HnswlibIndex, FaissHNSWIndex, FaissHNSWSQIndex, *SMALL_IVF])
def test_bad_input_errors(cls):
    x = low_rank(50, seed=7)
    with pytest.raises(HarnessError, match="0 vectors"):
        cls().build(np.zeros((0, 32), np.float32))
    bad = x.copy()
    bad[17, 3] = np.nan
    with pytest.raises(HarnessError, match="row 17"):
        cls().build(bad)
    idx = cls().build(x)
    with pytest.raises(HarnessError, match="dimension 16, expected 32"):
        idx.search(np.ones((2, 16), np.float32), 1)
    with pytest.raises(HarnessError, match="larger than the number of indexed vectors"):
        idx.search(x[:2], 51)
    q = x[:3].copy()
    q[1, 0] = np.inf
    with pytest.raises(HarnessError, match="row 1"):
        idx.search(q, 1)
    zero = x.copy()
    zero[4] = 0
    with pytest.raises(HarnessError, match="row 4 is a zero vector"):
        cls(metric="cosine").build(zero)
    with pytest.raises(HarnessError, match="unknown parameter 'efs'"):
        cls(efs=3)
    with pytest.raises(HarnessError, match="unknown metric"):
        cls(metric="hamming")
    with pytest.raises(HarnessError, match="not a permutation"):
        cls().build(x, order=np.zeros(50, dtype=np.int64))
    with pytest.raises(HarnessError, match="ids must be unique: id 3"):
        cls().build(x, ids=np.r_[np.arange(49), 3])


def test_registry_names_and_spec_stats():
    for name, cls in (("exact", ExactIndex), ("hnswlib", HnswlibIndex), ("faiss-hnsw", FaissHNSWIndex)):
        idx = registry.make_index(name)
        assert isinstance(idx, cls)
        spec = idx.spec()
        assert spec["name"] == name and set(spec) == {"name", "exact", "build", "query"}
        assert spec["exact"] is (name == "exact")
        idx.build(low_rank(120, seed=8))
        st = idx.stats()
        assert {"size_bytes", "build_s", "threads", "n", "dim", "metric"} <= set(st)
        assert st["size_bytes"] >= 120 * 32 * 4 and st["n"] == 120 and st["build_s"] >= 0


# -- HNSW adapters ----------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [HnswlibIndex, FaissHNSWIndex])
def test_ef_below_k_raises_valueerror(cls):
    idx = cls(ef=5).build(low_rank(100, seed=9))
    with pytest.raises(ValueError, match="ef must be >= k"):
        idx.search(low_rank(3, seed=10), 10)
    assert idx.search(low_rank(3, seed=10), 10, ef=10)[0].shape == (3, 10)


@pytest.mark.parametrize("cls", [HnswlibIndex, FaissHNSWIndex])
def test_ef_sweep_without_rebuild_reaches_exact(cls):
    x, q = low_rank(2000, d=48, rank=20, seed=11), low_rank(50, d=48, rank=20, seed=12)
    gt_ids, gt_d = ExactIndex().build(x).search(q, 100)
    idx = cls(M=8, ef_construction=40).build(x)
    recalls = []
    for ef in (10, 40, 2000):
        ids, d = idx.search(q, 10, ef=ef)
        recalls.append(ann_recall(gt_ids, gt_d, ids, 10)[0].mean())
    assert recalls[-1] == 1.0                      # ef = n is exhaustive on a connected graph
    assert recalls[0] <= recalls[1] + 0.02 <= recalls[2] + 0.02
    np.testing.assert_allclose(idx.search(q, 10, ef=2000)[1], gt_d[:, :10], atol=1e-5)  # -ip convention


def test_hnswlib_adapter_equals_raw_hnswlib_single_thread():
    import hnswlib
    x, q = low_rank(1500, seed=13), low_rank(30, seed=14)
    raw = hnswlib.Index(space="ip", dim=32)
    raw.init_index(max_elements=1500, M=12, ef_construction=64, random_seed=100)
    raw.add_items(x, np.arange(1500), num_threads=1)
    raw.set_ef(32)
    r_ids, r_d = raw.knn_query(q, k=10, num_threads=1)
    # chunked adds (add_chunk_size) with one thread build the same graph as one add
    ours = HnswlibIndex(M=12, ef_construction=64, add_chunk_size=97).build(x)
    ids, d = ours.search(q, 10, ef=32)
    np.testing.assert_array_equal(ids, r_ids.astype(np.int64))
    np.testing.assert_array_equal(d, r_d - np.float32(1))


def test_hnswlib_determinism_facts_methods_1_3():
    """Same order + seed + 1 thread: identical; another seed or another order: different graph."""
    x, q = low_rank(3000, d=32, rank=24, seed=15), low_rank(200, d=32, rank=24, seed=16)

    def run(**kw):
        order = kw.pop("order", None)
        return HnswlibIndex(M=8, ef_construction=32, **kw).build(x, order=order).search(q, 10, ef=10)[0]

    base = run()
    assert np.array_equal(base, run())
    assert not np.array_equal(base, run(random_seed=7))
    perm = np.random.default_rng(0).permutation(3000)
    shuffled = run(order=perm)
    assert not np.array_equal(base, shuffled)
    # ids still name rows of x (labels map back through the order)
    gt = ExactIndex().build(x).search(q, 10)[0]
    assert (shuffled[:, 0] == gt[:, 0]).mean() > 0.8


def test_hnswlib_order_inserts_in_given_order():
    """With 1 thread, a build in order `perm` equals a raw build of x[perm] labelled perm."""
    import hnswlib
    x, q = low_rank(800, seed=17), low_rank(20, seed=18)
    perm = np.random.default_rng(3).permutation(800)
    raw = hnswlib.Index(space="ip", dim=32)
    raw.init_index(max_elements=800, M=8, ef_construction=32, random_seed=100)
    raw.add_items(x[perm], perm, num_threads=1)
    raw.set_ef(20)
    r_ids, _ = raw.knn_query(q, k=5, num_threads=1)
    ids, _ = HnswlibIndex(M=8, ef_construction=32, add_chunk_size=50).build(x, order=perm).search(q, 5, ef=20)
    np.testing.assert_array_equal(ids, r_ids.astype(np.int64))


def test_faiss_hnsw_chunked_order_with_one_thread():
    import faiss
    x, q = low_rank(1000, seed=19), low_rank(20, seed=20)
    perm = np.random.default_rng(4).permutation(1000)
    before = faiss.omp_get_max_threads()
    idx = FaissHNSWIndex(M=8, ef_construction=32).build(x, order=perm)
    assert faiss.omp_get_max_threads() == before            # thread setting restored
    st = idx.stats()
    assert st["add_chunk_size"] == 10 and st["threads"] == 1 and st["order"] == "given"
    # equals a raw build that adds the same consecutive chunks with one thread
    raw = faiss.IndexHNSWFlat(32, 8, faiss.METRIC_INNER_PRODUCT)
    raw.hnsw.efConstruction = 32
    faiss.omp_set_num_threads(1)
    try:
        for s in range(0, 1000, 10):
            raw.add(x[perm[s:s + 10]])
    finally:
        faiss.omp_set_num_threads(before)
    _, r_i = raw.search(q, 5, params=faiss.SearchParametersHNSW(efSearch=16))
    ids, _ = idx.search(q, 5, ef=16)
    np.testing.assert_array_equal(ids, perm[r_i])
    # chunk size 1 is a different (exactly ordered) build, still valid
    ids1, _ = FaissHNSWIndex(M=8, ef_construction=32, add_chunk_size=1, omp_threads=1).build(x, order=perm).search(q, 5)
    gt = ExactIndex().build(x).search(q, 5)[0]
    assert (ids1[:, 0] == gt[:, 0]).mean() > 0.8


def test_faiss_hnsw_single_add_is_deterministic():
    x, q = low_rank(1500, seed=21), low_rank(30, seed=22)
    a = FaissHNSWIndex(M=8, ef_construction=32).build(x).search(q, 10, ef=16)
    b = FaissHNSWIndex(M=8, ef_construction=32, omp_threads=1).build(x).search(q, 10, ef=16)
    np.testing.assert_array_equal(a[0], b[0])


# -- ANN recall rules, methods.md §6.1 (hand-computed) -----------------------------------------------
def test_ann_recall_id_and_tie_rules():
    # GT ids a..e = 0..4 with distances [.1, .2, .3, .3, .5], k = 3
    gt_ids = np.array([[0, 1, 2, 3, 4]] * 3)
    gt_d = np.array([[0.1, 0.2, 0.3, 0.3, 0.5]] * 3)
    found = np.array([[0, 1, 3], [0, 1, 4], [0, 1, -1]])   # [a,b,d], [a,b,e], [a,b] (short)
    rid, rtie = ann_recall(gt_ids, gt_d, found, 3)
    np.testing.assert_allclose(rid, [2 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(rtie, [1.0, 2 / 3, 2 / 3])
    with pytest.raises(ValueError, match="duplicate"):
        ann_recall(gt_ids[:1], gt_d[:1], np.array([[0, 0, 1]]), 3)


def test_index_param_error_is_valueerror():
    assert issubclass(IndexParamError, ValueError)
