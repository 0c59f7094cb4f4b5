"""Each index library called directly, doing the work its harness adapter does (no harness code).

The reference twice over: tests/test_faiss_indexes.py checks that every adapter returns the ids the
raw library returns for the same data, seed and parameters, and bench/index_vs_raw.py times the
adapter against these same calls. `params` are the adapter's full build / query dicts (its defaults
merged with what the caller set), so both sides read the same values. Metrics: "ip" and "l2"; for
cosine the caller passes unit rows and "ip", as a user of the raw library would.

    index = build(name, x, build_params)
    result = search(name, index, q, k, build_params, query_params)   # what the library returns (timed)
    ids, distances = as_arrays(name, result, len(q), k)               # (nq, k), library's own scores
    close(name, index)                                                # LanceDB: remove its folder
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager

import numpy as np


@contextmanager
def _faiss_threads(n):
    import faiss
    before = faiss.omp_get_max_threads()
    if n:
        faiss.omp_set_num_threads(int(n))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _faiss_metric(metric):
    import faiss
    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


# -- exact: faiss's flat kernel -------------------------------------------------------------------------
def _exact_build(x, p):
    return x


def _exact_search(x, q, k, p, qp):
    import faiss
    d, i = faiss.knn(q, x, k, metric=_faiss_metric(p["metric"]))
    return i, d


# -- hnswlib ----------------------------------------------------------------------------------------------
def _hnswlib_build(x, p):
    import hnswlib
    index = hnswlib.Index(space="l2" if p["metric"] == "l2" else "ip", dim=x.shape[1])
    index.init_index(max_elements=len(x), M=p["M"], ef_construction=p["ef_construction"], random_seed=p["random_seed"])
    index.add_items(x, np.arange(len(x)), num_threads=p["num_threads"])
    return index


def _hnswlib_search(index, q, k, p, qp):
    index.set_ef(qp["ef"])
    return index.knn_query(q, k=k, num_threads=qp["num_threads"])


# -- faiss HNSW, flat or SQ8 storage --------------------------------------------------------------------
def _faiss_hnsw_build(x, p, sq8=False):
    import faiss
    with _faiss_threads(p["omp_threads"]):
        if sq8:
            index = faiss.IndexHNSWSQ(x.shape[1], faiss.ScalarQuantizer.QT_8bit, p["M"], _faiss_metric(p["metric"]))
            index.hnsw.efConstruction = p["ef_construction"]
            index.train(x)
        else:
            index = faiss.IndexHNSWFlat(x.shape[1], p["M"], _faiss_metric(p["metric"]))
            index.hnsw.efConstruction = p["ef_construction"]
        index.add(x)
    return index


def _faiss_hnsw_search(index, q, k, p, qp):
    import faiss
    with _faiss_threads(qp["omp_threads"]):
        d, i = index.search(q, k, params=faiss.SearchParametersHNSW(efSearch=qp["ef"]))
    return i, d


# -- faiss IVF-Flat / IVF-PQ (+ IndexRefineFlat) ----------------------------------------------------------
def _ivf_build(x, p, pq=False):
    import faiss
    dim, metric = x.shape[1], _faiss_metric(p["metric"])
    quantizer = faiss.IndexFlatL2(dim) if metric == faiss.METRIC_L2 else faiss.IndexFlatIP(dim)
    if pq:
        ivf = faiss.IndexIVFPQ(quantizer, dim, p["nlist"], p["M"], p["nbits"], metric)
        ivf.pq.cp.seed, ivf.pq.cp.min_points_per_centroid = p["seed"], 0
    else:
        ivf = faiss.IndexIVFFlat(quantizer, dim, p["nlist"], metric)
    ivf.cp.seed, ivf.cp.min_points_per_centroid = p["seed"], 0   # 0: no stderr warning (as the adapter)
    index = faiss.IndexRefineFlat(ivf) if pq and p["refine"] else ivf
    with _faiss_threads(p["omp_threads"]):
        index.train(x)
        index.add(x)
    return index, ivf


def _ivf_search(built, q, k, p, qp):
    import faiss
    index, ivf = built
    ivf_params = faiss.SearchParametersIVF(nprobe=qp["nprobe"])
    with _faiss_threads(qp["omp_threads"]):
        if qp.get("refine_factor", 0) > 1:
            d, i = index.search(q, k, params=faiss.IndexRefineSearchParameters(
                k_factor=float(qp["refine_factor"]), base_index_params=ivf_params))
        else:
            d, i = ivf.search(q, k, params=ivf_params)
    return i, d


# -- usearch --------------------------------------------------------------------------------------------
def _usearch_build(x, p):
    from usearch.index import Index
    kind = "l2sq" if p["metric"] == "l2" else "cos" if p["dtype"] == "i8" else "ip"
    index = Index(ndim=x.shape[1], metric=kind, dtype=p["dtype"], connectivity=p["M"],
                  expansion_add=p["ef_construction"])
    index.add(np.arange(len(x), dtype=np.uint64), x, threads=p["threads"])
    return index


def _usearch_search(index, q, k, p, qp):
    index.expansion_search = qp["ef"]
    m = index.search(q, k, threads=qp["threads"])
    return m.keys, m.distances


# -- LanceDB (embedded): a table in a fresh folder, the index type's config, a multi-vector search -------
def _lancedb_build(x, p, config=None):
    os.environ.setdefault("LANCE_CPU_THREADS", str(p["threads"]))   # read once per process, as the adapter
    import lancedb
    import pyarrow as pa
    folder = tempfile.mkdtemp(prefix="raw-lancedb-", dir=p["path"])
    table = lancedb.connect(folder).create_table("vectors", data=pa.table({
        "pos": pa.array(np.arange(len(x), dtype=np.int64)),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])}))
    if config is not None:
        table.create_index("vector", config=config(p))
    return folder, table


def _lancedb_ivf_pq(p):
    from lancedb.index import IvfPq
    return IvfPq(distance_type=_LANCE_DISTANCE[p["metric"]], num_partitions=p["num_partitions"],
                 num_sub_vectors=p["num_sub_vectors"], num_bits=p["num_bits"], max_iterations=p["max_iterations"],
                 sample_rate=p["sample_rate"])


def _lancedb_hnsw_sq(p):
    from lancedb.index import HnswSq
    return HnswSq(distance_type=_LANCE_DISTANCE[p["metric"]], num_partitions=p["num_partitions"], m=p["M"],
                  ef_construction=p["ef_construction"], max_iterations=p["max_iterations"],
                  sample_rate=p["sample_rate"])


def _lancedb_search(built, q, k, p, qp):
    s = built[1].search(q, vector_column_name="vector").distance_type(_LANCE_DISTANCE[p["metric"]]).limit(k)
    if "ef" in qp:
        s = s.ef(qp["ef"])
    if "nprobes" in qp:
        s = s.nprobes(qp["nprobes"])
    if qp.get("refine_factor"):
        s = s.refine_factor(qp["refine_factor"])
    return s.select(["pos", "_distance"]).to_arrow()


def _lancedb_arrays(table, nq, k):
    ids, dist = np.full((nq, k), -1, np.int64), np.full((nq, k), np.inf, np.float32)
    qi = table.column("query_index").to_numpy()
    for i in range(nq):
        rows = np.flatnonzero(qi == i)
        ids[i, :len(rows)] = table.column("pos").to_numpy()[rows]
        dist[i, :len(rows)] = table.column("_distance").to_numpy()[rows]
    return ids, dist


_LANCE_DISTANCE = {"ip": "dot", "cosine": "cosine", "l2": "l2"}

RAW = {
    "exact": (_exact_build, _exact_search),
    "hnswlib": (_hnswlib_build, _hnswlib_search),
    "faiss-hnsw": (_faiss_hnsw_build, _faiss_hnsw_search),
    "faiss-hnsw-sq8": (lambda x, p: _faiss_hnsw_build(x, p, sq8=True), _faiss_hnsw_search),
    "faiss-ivf-flat": (_ivf_build, _ivf_search),
    "faiss-ivf-pq": (lambda x, p: _ivf_build(x, p, pq=True), _ivf_search),
    "usearch": (_usearch_build, _usearch_search),
    "lancedb-flat": (_lancedb_build, _lancedb_search),
    "lancedb-ivf-pq": (lambda x, p: _lancedb_build(x, p, _lancedb_ivf_pq), _lancedb_search),
    "lancedb-hnsw-sq": (lambda x, p: _lancedb_build(x, p, _lancedb_hnsw_sq), _lancedb_search),
}


def build(name: str, x: np.ndarray, params: dict):
    return RAW[name][0](x, params)


def search(name: str, index, q: np.ndarray, k: int, params: dict, query_params: dict):
    return RAW[name][1](index, q, k, params, query_params)


def as_arrays(name: str, result, nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids int64, distances) as (nq, k) arrays from what `search` returned (not timed: the library's
    result is what a user of the raw library gets)."""
    if name.startswith("lancedb"):
        return _lancedb_arrays(result, nq, k)
    ids, d = result
    return np.asarray(ids).astype(np.int64, copy=False), d


def close(name: str, index) -> None:
    if name.startswith("lancedb"):
        shutil.rmtree(index[0], ignore_errors=True)
