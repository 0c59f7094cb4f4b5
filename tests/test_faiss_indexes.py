"""faiss IVF-Flat, IVF-PQ and HNSW-SQ8 adapters, and the range checks of every index adapter.

References: exact search (IVF-Flat at nprobe = nlist, IVF-PQ re-ranking everything), and each raw
library called directly with the same data, seed and parameters (bench/raw_indexes.py): same ids,
same distances up to the harness's sign convention. Small synthetic low-rank data (continuous, so no
distance ties), d = 32. Bad input: each error names the index and the parameter, from `check()`
before anything is built and again at build / search.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from adapters.indexes.base import IndexParamError
from bench import raw_indexes
from harness.registry import make_index

D = 32
ANN = ("hnswlib", "faiss-hnsw", "faiss-hnsw-sq8", "faiss-ivf-flat", "faiss-ivf-pq")
# small settings each adapter and its raw library share (IVF-PQ re-ranks with the stored floats)
SETTINGS = {
    "hnswlib": ({"M": 8, "ef_construction": 40}, {"ef": 20}),
    "faiss-hnsw": ({"M": 8, "ef_construction": 40, "omp_threads": 1}, {"ef": 20, "omp_threads": 1}),
    "faiss-hnsw-sq8": ({"M": 8, "ef_construction": 40}, {"ef": 20}),
    "faiss-ivf-flat": ({"nlist": 16}, {"nprobe": 4}),
    "faiss-ivf-pq": ({"nlist": 8, "M": 8, "nbits": 6, "refine": True}, {"nprobe": 3, "refine_factor": 3}),
}


def low_rank(n, d=D, rank=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, d)) + 0.1 * rng.standard_normal((n, d))
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def data():
    return low_rank(1200, seed=1), low_rank(40, seed=2)


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)   # float32, as harness.vectors.unit_rows


def exact(x, q, k, metric):
    return make_index("exact", metric=metric).build(x).search(q, k)


def quiet_build(index, x, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # few training points per PQ centroid on purpose: small data
        return index.build(x, **kw)


# -- exactness --------------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["ip", "cosine", "l2"])
def test_ivf_flat_visiting_every_list_equals_exact_search(data, metric):
    x, q = data
    ids, d = make_index("faiss-ivf-flat", metric=metric, nlist=16).build(x).search(q, 10, nprobe=16)
    ref_ids, ref_d = exact(x, q, 10, metric)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(d, ref_d, rtol=1e-5, atol=1e-4)
    partial, _ = make_index("faiss-ivf-flat", metric=metric, nlist=16).build(x).search(q, 10, nprobe=1)
    assert (partial == ref_ids).mean() < 1.0   # one list of 16 misses neighbours: nprobe is honoured


@pytest.mark.parametrize("metric", ["ip", "cosine", "l2"])
def test_ivf_pq_reranking_recalls_at_least_as_much_and_reaches_exact(data, metric):
    x, q = data
    ref_ids, ref_d = exact(x, q, 10, metric)
    index = quiet_build(make_index("faiss-ivf-pq", metric=metric, nlist=8, M=4, nbits=4, refine=True), x)
    recall = {}
    for r in (0, 2, 8):
        ids, _ = index.search(q, 10, nprobe=8, refine_factor=r)
        recall[r] = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, ref_ids)])
    assert recall[0] < 1.0 and recall[0] <= recall[2] <= recall[8]
    assert recall[8] > recall[0]
    # re-ranking all n rows (k * r >= n) with every list visited is exact search
    ids, d = index.search(q, 10, nprobe=8, refine_factor=len(x) // 10)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(d, ref_d, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("metric", ["ip", "cosine", "l2"])
@pytest.mark.parametrize("name", ANN)
def test_adapter_equals_raw_library(data, name, metric):
    """Same data, seed and parameters: the ids (and scores) of the library called directly."""
    x, q = data
    build, query = SETTINGS[name]
    index = quiet_build(make_index(name, metric=metric, **build), x)
    ids, d = index.search(q, 10, **query)
    xr, qr = (unit(x), unit(q)) if metric == "cosine" else (x, q)
    raw_metric = "l2" if metric == "l2" else "ip"
    raw = raw_indexes.build(name, xr, {**index.build_params, "metric": raw_metric})
    result = raw_indexes.search(name, raw, qr, 10, index.build_params, {**index.query_params, **query})
    r_ids, r_d = raw_indexes.as_arrays(name, result, len(q), 10)
    np.testing.assert_array_equal(ids, r_ids)
    np.testing.assert_array_equal(d, r_d if metric == "l2" else (r_d - np.float32(1) if name == "hnswlib" else -r_d))


@pytest.mark.parametrize("name", ["faiss-ivf-flat", "faiss-ivf-pq", "faiss-hnsw-sq8"])
def test_ids_are_mapped_and_builds_are_deterministic(data, name):
    x, q = data
    build, query = SETTINGS[name]
    labels = np.random.default_rng(5).permutation(len(x)).astype(np.int64) * 3 + 11
    a = quiet_build(make_index(name, **build), x, ids=labels).search(q, 10, **query)
    b = quiet_build(make_index(name, **build), x).search(q, 10, **query)
    np.testing.assert_array_equal(a[0], labels[b[0]])     # ids name the caller's labels
    np.testing.assert_array_equal(a[1], b[1])              # and the same seed gives the same index


def test_ivf_seed_and_training_sample(data):
    import faiss
    x, _ = data
    one = make_index("faiss-ivf-flat", nlist=16).build(x)
    other = make_index("faiss-ivf-flat", nlist=16, seed=7).build(x)
    sampled = make_index("faiss-ivf-flat", nlist=16, train_size=800).build(x)
    centroids = [i._ivf.quantizer.reconstruct_n(0, 16) for i in (one, other, sampled)]
    assert not np.array_equal(centroids[0], centroids[1]) and not np.array_equal(centroids[0], centroids[2])
    st = sampled.stats()
    assert st["size_bytes"] == len(faiss.serialize_index(sampled._index)) and st["threads"] == 1
    assert st["deterministic"] is True and st["library"] == f"faiss {faiss.__version__}"


def test_stats_sizes_threads_and_thread_setting_restored(data):
    import faiss
    x, q = data
    before = faiss.omp_get_max_threads()
    pq = quiet_build(make_index("faiss-ivf-pq", nlist=8, M=8, nbits=6), x)
    refined = quiet_build(make_index("faiss-ivf-pq", nlist=8, M=8, nbits=6, refine=True), x)
    sq = make_index("faiss-hnsw-sq8", M=8).build(x)
    sq.search(q, 5)
    assert faiss.omp_get_max_threads() == before
    assert pq.stats()["code_size"] == 6 and pq.stats()["M"] == 8
    assert refined.stats()["size_bytes"] - pq.stats()["size_bytes"] >= x.nbytes   # the float copy
    assert sq.stats()["size_bytes"] == len(faiss.serialize_index(sq._index)) < x.nbytes + 20 * len(x) * 8
    assert make_index("faiss-ivf-pq").check(dim=384) is None   # default M = 48 divides 384 ...
    assert quiet_build(make_index("faiss-ivf-pq", nlist=4), low_rank(300, d=300, seed=3)).stats()["M"] == 30


def test_few_training_points_warn_once_and_clearly(data):
    x, _ = data
    with pytest.warns(UserWarning, match=r"faiss-ivf-flat index: nlist=64 trains 64 centroids on 1200 training"):
        make_index("faiss-ivf-flat", nlist=64).build(x)
    with pytest.warns(UserWarning, match=r"faiss-ivf-pq index: nbits=8 .* fewer than faiss's 39 per centroid"):
        make_index("faiss-ivf-pq", nlist=8, M=8).build(x)


# -- bad input: clear errors naming index and parameter, before any build -------------------------
BAD = [  # (index, build params, query point, k, message)
    ("faiss-ivf-flat", {"nlits": 8}, {}, 10, r"faiss-ivf-flat index: unknown parameter 'nlits'; valid: metric, nlist"),
    ("faiss-ivf-flat", {"nlist": 8}, {"nprobe": 9}, 10, r"faiss-ivf-flat index: parameter nprobe=9 .* 1\.\.8 \(nlist"),
    ("faiss-ivf-flat", {"nlist": 8}, {"nprobe": 0}, 10, r"parameter nprobe=0"),
    ("faiss-ivf-flat", {"nlist": 0}, {}, 10, r"faiss-ivf-flat index: parameter nlist=0"),
    ("faiss-ivf-flat", {"nlist": "64"}, {}, 10, r"parameter nlist='64' is out of range; valid: an integer"),
    ("faiss-ivf-flat", {"nlist": 16, "train_size": 8}, {}, 10, r"parameter train_size=8 .* >= 16 \(nlist\)"),
    ("faiss-ivf-flat", {"omp_threads": 0}, {}, 10, r"parameter omp_threads=0"),
    ("faiss-ivf-pq", {"M": 5}, {}, 10, r"faiss-ivf-pq index: parameter M=5 .* divisor of the dimension 32: 1, 2, 4"),
    ("faiss-ivf-pq", {"nbits": 25}, {}, 10, r"faiss-ivf-pq index: parameter nbits=25 .* 1\.\.24"),
    ("faiss-ivf-pq", {"refine": "yes"}, {}, 10, r"parameter refine='yes' .* true or false"),
    ("faiss-ivf-pq", {}, {"refine_factor": 4}, 10, r"parameter refine_factor=4 .* unless built with refine=true"),
    ("faiss-ivf-pq", {}, {"nprobe": 65}, 10, r"faiss-ivf-pq index: parameter nprobe=65"),
    ("faiss-hnsw-sq8", {}, {"ef": 5}, 10, r"faiss-hnsw-sq8 index: ef must be >= k \(ef=5, k=10\)"),
    ("faiss-hnsw-sq8", {"M": 1}, {}, 10, r"faiss-hnsw-sq8 index: parameter M=1 .* >= 2"),
    ("faiss-hnsw", {}, {"ef": 9}, 10, r"faiss-hnsw index: ef must be >= k"),
    ("faiss-hnsw", {"ef_construction": 0}, {}, 10, r"faiss-hnsw index: parameter ef_construction=0"),
    ("faiss-hnsw", {}, {"omp_threads": -2}, 10, r"faiss-hnsw index: parameter omp_threads=-2"),
    ("faiss-hnsw", {"add_chunk_size": 0}, {}, 10, r"faiss-hnsw index: parameter add_chunk_size=0"),
    ("hnswlib", {}, {"ef": 3}, 10, r"hnswlib index: ef must be >= k \(ef=3, k=10\)"),
    ("hnswlib", {"M": True}, {}, 10, r"hnswlib index: parameter M=True"),
    ("hnswlib", {"num_threads": 0}, {}, 10, r"hnswlib index: parameter num_threads=0 .* or -1"),
    ("hnswlib", {"random_seed": -1}, {}, 10, r"hnswlib index: parameter random_seed=-1"),
    ("exact", {}, {"chunk_size": 0}, 10, r"exact index: parameter chunk_size=0"),
    ("exact", {}, {"max_memory_mb": -1}, 10, r"exact index: parameter max_memory_mb=-1"),
]


@pytest.mark.parametrize("name,build,query,k,message", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_parameters_fail_at_plan_time_and_at_build_or_search(monkeypatch, data, name, build, query, k, message):
    x, q = data

    def no_build(*a, **kw):
        raise AssertionError("the library was called before the parameters were checked")

    monkeypatch.setattr(type(make_index(name)), "_build", no_build)
    with pytest.raises(IndexParamError, match=message):   # plan time: construction or check()
        make_index(name, **build).check(query_points=[query], dim=D, k=k)
    monkeypatch.undo()
    with pytest.raises(IndexParamError, match=message):   # run time: build, or the search with that point
        index = make_index(name, **build)
        index = quiet_build(index, x)
        index.search(q, k, **query)


def test_training_size_errors_name_the_parameter(data):
    x, _ = data
    with pytest.raises(IndexParamError, match=r"faiss-ivf-flat index: parameter nlist=2000 .* valid: 1\.\.1200: "
                                              r"k-means into 2000 centroids needs at least that many training points"):
        make_index("faiss-ivf-flat", nlist=2000).build(x)
    with pytest.raises(IndexParamError, match=r"faiss-ivf-pq index: parameter nbits=12 .* 1\.\.10: .*1200 training"):
        make_index("faiss-ivf-pq", nlist=8, M=8, nbits=12).build(x)
    with pytest.raises(IndexParamError, match=r"faiss-ivf-pq index: parameter M=5 .* dimension 32"):
        make_index("faiss-ivf-pq", M=5).build(x)


@pytest.mark.parametrize("name,build,query", [
    ("faiss-ivf-flat", {}, {}),
    ("faiss-ivf-pq", {"M": 4, "nbits": 4}, {}),
    ("faiss-ivf-pq", {"M": 4, "nbits": 4, "refine": True}, {"refine_factor": 4})])
def test_ivf_short_result_lists_are_empty_slots(name, build, query):
    """One list of 16 holds fewer than k rows: the rest are id -1 / distance +inf, never a wrong id."""
    x, q = low_rank(300, seed=4), low_rank(5, seed=5)
    ids, d = quiet_build(make_index(name, metric="l2", nlist=16, **build), x).search(q, 60, nprobe=1, **query)
    assert (ids == -1).any() and np.isinf(d[ids == -1]).all() and np.isfinite(d[ids >= 0]).all()
    for row in ids:
        found = row[row >= 0]
        assert len(set(found)) == len(found) and found.max() < 300


def test_bench_has_a_raw_counterpart_for_every_index_library():
    """bench/index_vs_raw.py times each adapter against bench/raw_indexes.py (it lists any it skips)."""
    from harness import registry
    libraries = {"exact", "hnswlib", "faiss-hnsw", "faiss-hnsw-sq8", "faiss-ivf-flat", "faiss-ivf-pq", "usearch",
                 "lancedb-flat", "lancedb-ivf-pq", "lancedb-hnsw-sq"}
    assert libraries <= set(raw_indexes.RAW) <= set(registry.INDEXES)
