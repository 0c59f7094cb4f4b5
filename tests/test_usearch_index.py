"""usearch adapter against raw usearch called directly (same data, parameters, one thread) and exact search."""
from __future__ import annotations

import numpy as np
import pytest

from adapters.indexes.base import IndexParamError
from adapters.indexes.exact import ExactIndex
from adapters.indexes.usearch_index import USearchIndex
from harness import registry
from harness.vectors import unit_rows
from tasks.metrics.ann import recall_at_k as ann_recall

usearch_index = pytest.importorskip("usearch.index")


def low_rank(n, d=32, rank=6, seed=0, normalise=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, d)) + 0.1 * rng.standard_normal((n, d))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True) if normalise else x


def raw_usearch(x, q, k, *, kind, dtype="f32", M=12, efc=64, ef=32):
    idx = usearch_index.Index(ndim=x.shape[1], metric=kind, dtype=dtype, connectivity=M, expansion_add=efc)
    idx.add(np.arange(len(x), dtype=np.uint64), x, threads=1)
    idx.expansion_search = ef
    m = idx.search(q, k, threads=1)
    return m.keys.astype(np.int64), m.distances, idx


def recall(x, q, ids, metric, k=10):
    gt_ids, gt_d = ExactIndex(metric=metric).build(x).search(q, 50)
    return ann_recall(gt_ids, gt_d, ids, k)[1].mean()


@pytest.mark.parametrize("metric,kind", [("ip", "ip"), ("cosine", "ip"), ("l2", "l2sq")])
def test_adapter_equals_raw_usearch(metric, kind):
    x = low_rank(1500, seed=1, normalise=(metric == "cosine"))
    q = low_rank(40, seed=2, normalise=False)
    # the adapter normalises rows and queries under cosine (base.py): give raw usearch the same arrays
    xn, qn = (unit_rows(x, "x"), unit_rows(q, "q")) if metric == "cosine" else (x, q)
    r_ids, r_d, raw = raw_usearch(xn, qn, 10, kind=kind)
    ours = USearchIndex(metric=metric, M=12, ef_construction=64).build(x)
    ids, d = ours.search(q, 10, ef=32)
    np.testing.assert_array_equal(ids, r_ids)
    expect = r_d if kind == "l2sq" else r_d - np.float32(1)   # usearch ip: 1 - <q, x>
    np.testing.assert_array_equal(d, expect)
    assert recall(x, q, ids, metric) == recall(x, q, r_ids, metric)
    assert ours.stats()["size_bytes"] == raw.serialized_length == len(bytes(raw.save()))
    # distances follow the harness convention: -ip / -cos / squared l2 (f32 storage: float rounding only)
    _, gt_d = ExactIndex(metric=metric).build(x).search(q, 10)
    found = ids[:, 0] == ExactIndex(metric=metric).build(x).search(q, 1)[0][:, 0]
    np.testing.assert_allclose(d[found, 0], gt_d[found, 0], rtol=1e-5, atol=1e-4)


def test_order_and_chunks_equal_raw_build_of_permuted_rows():
    x, q = low_rank(1200, seed=3), low_rank(30, seed=4)
    perm = np.random.default_rng(5).permutation(1200)
    r_ids, _, _ = raw_usearch(x[perm], q, 5, kind="ip")
    ids, _ = USearchIndex(M=12, ef_construction=64, add_chunk_size=97).build(x, order=perm).search(q, 5, ef=32)
    np.testing.assert_array_equal(ids, perm[r_ids])


def test_single_thread_build_is_deterministic_and_ids_are_mapped():
    x, q = low_rank(2000, seed=6), low_rank(50, seed=7)
    labels = np.arange(2000, dtype=np.int64) * 3 + 11
    a = USearchIndex(M=8, ef_construction=32).build(x, labels)
    b = USearchIndex(M=8, ef_construction=32).build(x, labels)
    assert bytes(a._index.save()) == bytes(b._index.save())
    ids_a, _ = a.search(q, 10, ef=10)
    np.testing.assert_array_equal(ids_a, b.search(q, 10, ef=10)[0])
    assert np.isin(ids_a, labels).all()
    st = a.stats()
    assert st["deterministic"] is True and st["threads"] == 1 and st["library"].startswith("usearch 2.")
    assert USearchIndex(threads=2).build(x).stats()["deterministic"] is False


@pytest.mark.parametrize("dtype", ["f16", "i8"])
@pytest.mark.parametrize("metric", ["ip", "cosine", "l2"])
def test_reduced_precision_dtypes(dtype, metric):
    x = low_rank(1500, seed=8, normalise=(metric != "l2"))
    q = low_rank(40, seed=9, normalise=False)
    if dtype == "i8" and metric == "l2":
        with pytest.raises(IndexParamError, match="usearch index: parameter dtype='i8'.*l2"):
            USearchIndex(metric=metric, dtype=dtype).check()
        return
    ours = USearchIndex(metric=metric, dtype=dtype, M=12, ef_construction=64)
    ids, d = ours.build(x).search(q, 10, ef=64)
    assert ours.stats()["dtype"] == dtype and ours._index.dtype.name.lower() == dtype
    assert recall(x, q, ids, metric) >= (0.95 if dtype == "f16" else 0.85)
    # the same ids as raw usearch in that dtype (i8: usearch's cos kernel on the int8 codes)
    xn, qn = (unit_rows(x, "x"), unit_rows(q, "q")) if metric == "cosine" else (x, q)
    kind = {"l2": "l2sq", "ip": "cos" if dtype == "i8" else "ip", "cosine": "cos" if dtype == "i8" else "ip"}[metric]
    r_ids, _, _ = raw_usearch(xn, qn, 10, kind=kind, dtype=dtype, ef=64)
    np.testing.assert_array_equal(ids, r_ids)
    # distances approximate the float32 ones (quantised storage)
    _, gt_d = ExactIndex(metric=metric).build(x).search(q, 10)
    scale = np.abs(gt_d).max()
    assert np.abs(np.sort(d, axis=1) - np.sort(gt_d, axis=1)).mean() < 0.05 * scale


def test_i8_with_ip_needs_unit_rows():
    x = low_rank(200, seed=10, normalise=False)
    with pytest.raises(IndexParamError,
                       match=r"usearch index: dtype='i8' with metric 'ip' needs unit-length rows.*row 0"):
        USearchIndex(metric="ip", dtype="i8").build(x)


def test_ef_sweep_reaches_exact_and_single_query():
    x, q = low_rank(2000, d=48, rank=20, seed=11), low_rank(30, d=48, rank=20, seed=12)
    idx = USearchIndex(M=8, ef_construction=40).build(x)
    recalls = [recall(x, q, idx.search(q, 10, ef=ef)[0], "ip") for ef in (10, 40, 2000)]
    assert recalls[-1] == 1.0 and recalls[0] <= recalls[1] + 0.02
    one_ids, one_d = idx.search(q[:1], 10, ef=40)
    np.testing.assert_array_equal(one_ids, idx.search(q, 10, ef=40)[0][:1])
    assert one_ids.shape == one_d.shape == (1, 10)


@pytest.mark.parametrize("params,param", [({"dtype": "f64"}, "dtype"), ({"M": 1}, "M"),
                                          ({"ef_construction": 0}, "ef_construction"), ({"threads": 0}, "threads"),
                                          ({"add_chunk_size": -5}, "add_chunk_size")])
def test_bad_build_parameters_fail_at_plan_time(params, param):
    with pytest.raises(IndexParamError, match=f"usearch index: parameter {param}="):
        USearchIndex(**params).check(dim=32, k=10)


def test_bad_query_parameters_and_unknown_names():
    idx = USearchIndex()
    with pytest.raises(ValueError, match="ef must be >= k"):
        idx.check(query_points=[{"ef": 5}], k=10)
    with pytest.raises(IndexParamError, match="usearch index: parameter threads=0"):
        idx.check(query_points=[{"threads": 0}])
    with pytest.raises(IndexParamError, match="usearch index: unknown query parameter 'expansion_search'"):
        idx.check(query_points=[{"expansion_search": 5}])
    with pytest.raises(IndexParamError, match="usearch index: unknown parameter 'connectivity'"):
        USearchIndex(connectivity=8)
    built = USearchIndex().build(low_rank(100, seed=13))
    with pytest.raises(ValueError, match="ef must be >= k"):
        built.search(low_rank(2, seed=14), 10, ef=5)


def test_registry_name():
    idx = registry.make_index("usearch", dtype="f16", M=8)
    assert isinstance(idx, USearchIndex) and idx.spec()["build"]["dtype"] == "f16"
    assert idx.spec()["exact"] is False
