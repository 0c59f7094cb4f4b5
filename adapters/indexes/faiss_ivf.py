"""faiss inverted-file indexes: `faiss-ivf-flat` (IndexIVFFlat) and `faiss-ivf-pq` (IndexIVFPQ, optionally
wrapped in IndexRefineFlat for exact re-ranking).

Build parameters (both): metric, nlist (k-means lists), seed (faiss `cp.seed`: k-means initialisation
and faiss's own subsampling to 256 points per list; also the row sample below), train_size (None: train
on all rows; else a sample of that many rows drawn with `seed`), add_chunk_size (rows per `add`, so a
memmapped corpus is never copied whole; IVF assigns each row on its own, so chunks give the same
index as one add), omp_threads (default 1). Query parameters: nprobe (lists visited, 1..nlist; faiss
would silently clamp a larger one), omp_threads (default 1: single-threaded QPS).

`faiss-ivf-pq` adds: M (sub-quantizers; must divide the dimension; None = the largest divisor of the
dimension <= dim/8, about 8 dimensions per code, e.g. 48 for 384, 30 for 300; stats() records the M
used), nbits (bits per sub-quantizer code, 1..24 as faiss allows; 8 is the fast path), refine (keep
the float vectors in an IndexRefineFlat so a search can re-rank exactly). Query: refine_factor r:
search the top k*r with PQ distances and re-rank them exactly against the float vectors (faiss
`k_factor`); 0 or 1 = off (PQ distances returned); r > 1 needs refine=true.

Training: k-means needs nlist <= training points (and PQ 2**nbits <= training points), else a
parameter error naming nlist (nbits) is raised before faiss is called; below faiss's 39 points per
centroid a `UserWarning` says so once (faiss's own per-sub-quantizer stderr lines are silenced by
setting `min_points_per_centroid` = 0, which only drives that message).

Determinism: with omp_threads=1 (default) training and adds are deterministic for a fixed seed; with
more threads the k-means may differ in float rounding, so `stats()["deterministic"]` is False then.
`order` is accepted and ignored: lists are filled in row order (insertion order only reorders ties).
Distances: squared L2, or the negative inner product (ip / cosine), from faiss's scores; PQ distances
are approximate unless re-ranked. size_bytes = len(faiss.serialize_index(index)), measured at the
first stats() call.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from . import checks
from .base import VectorIndex, chunk_rows
from .faiss_common import SerializedSize, faiss_metric, library, omp_threads, to_distances

MIN_POINTS_PER_CENTROID = 39   # faiss ClusteringParameters' threshold for its "please provide more" warning
SEED_MAX = 2**31 - 1           # faiss cp.seed is a C int


class FaissIVFFlatIndex(SerializedSize, VectorIndex):
    name = "faiss-ivf-flat"
    # nlist 64 keeps >= 39 training points per list on the small corpora (NFCorpus: 3,633 rows);
    # faiss's own k-means seed is 1234.
    BUILD_DEFAULTS = {"metric": "ip", "nlist": 64, "seed": 1234, "train_size": None, "add_chunk_size": 65536,
                      "omp_threads": 1}
    QUERY_DEFAULTS = {"nprobe": 8, "omp_threads": 1}

    # -- checks -----------------------------------------------------------------------------------
    def _check(self, build, query, dim, k):
        nlist = checks.int_param(self, build, "nlist", 1)
        checks.int_param(self, build, "seed", 0, SEED_MAX)
        checks.int_param(self, build, "train_size", nlist, why="nlist", none="all rows")
        checks.chunk_param(self, build)
        checks.threads_param(self, build, "omp_threads")
        if query is not None:
            checks.int_param(self, query, "nprobe", 1, nlist, why="nlist")
            checks.threads_param(self, query, "omp_threads")

    def _check_training(self, n_train: int, params: dict) -> None:
        """nlist <= training points (k-means), with a warning below faiss's 39 per list."""
        _enough_points(self, "nlist", int(params["nlist"]), n_train, params)

    # -- build ------------------------------------------------------------------------------------
    def _new_index(self, dim: int, params: dict):
        """(index to train, add to and search, the IVF inside it)."""
        import faiss
        metric = faiss_metric(params["metric"])
        ivf = faiss.IndexIVFFlat(_quantizer(dim, metric), dim, int(params["nlist"]), metric)
        return ivf, ivf

    def _build(self, x, order, params):
        train = _training_rows(x, params)
        self._check_training(len(train), params)
        index, ivf = self._new_index(int(x.shape[1]), params)
        for cp in _clustering_params(ivf):
            cp.seed = int(params["seed"])
            cp.min_points_per_centroid = 0   # silence faiss's stderr lines: _check_training warned once
        with omp_threads(params["omp_threads"]) as used:
            index.train(train)
            for s, e in chunk_rows(len(x), params["add_chunk_size"]):
                index.add(x[s:e])            # a C-contiguous float32 view: no copy
        self._index, self._ivf, self._threads = index, ivf, used
        return None

    # -- search -----------------------------------------------------------------------------------
    def _search_with(self, params):
        """(faiss index to search, its SearchParameters) for one query point."""
        import faiss
        return self._ivf, faiss.SearchParametersIVF(nprobe=int(params["nprobe"]))

    def _search(self, q, k, params):
        index, search_params = self._search_with(params)
        with omp_threads(params["omp_threads"]):
            d, i = index.search(q, k, params=search_params)
        return i, to_distances(d, self.build_params["metric"])

    def _build_stats(self):
        # size_bytes: added by SerializedSize on the first stats() call
        return {"threads": self._threads, "library": library(), "deterministic": self._threads == 1}


class FaissIVFPQIndex(FaissIVFFlatIndex):
    name = "faiss-ivf-pq"
    BUILD_DEFAULTS = {**FaissIVFFlatIndex.BUILD_DEFAULTS, "M": None, "nbits": 8, "refine": False}
    QUERY_DEFAULTS = {**FaissIVFFlatIndex.QUERY_DEFAULTS, "refine_factor": 0}

    def _check(self, build, query, dim, k):
        super()._check(build, query, dim, k)
        m = checks.int_param(self, build, "M", 1, none="about dim/8: the largest divisor of the dimension <= dim/8")
        if m is not None and dim is not None and dim % m:
            valid = ", ".join(map(str, checks.divisors(dim)))
            raise self.param_error("M", m, f"a divisor of the dimension {dim}: {valid}")
        checks.int_param(self, build, "nbits", 1, 24, why="faiss's ProductQuantizer range")
        refine = checks.bool_param(self, build, "refine")
        if query is not None:
            r = checks.int_param(self, query, "refine_factor", 0)
            if r > 1 and not refine:
                raise self.param_error("refine_factor", r, "0 or 1 (off) unless built with refine=true "
                                       "(which keeps the float vectors to re-rank against)")

    def _check_training(self, n_train, params):
        super()._check_training(n_train, params)
        nbits = int(params["nbits"])
        _enough_points(self, "nbits", 2 ** nbits, n_train, params, shown=nbits,
                       bound=f"1..{int(math.log2(n_train))}" if n_train >= 2 else "none")

    def _new_index(self, dim, params):
        import faiss
        metric = faiss_metric(params["metric"])
        self._m = pq_m(dim, params["M"])
        ivf = faiss.IndexIVFPQ(_quantizer(dim, metric), dim, int(params["nlist"]), self._m, int(params["nbits"]),
                               metric)
        # faiss's Python constructors keep a reference to the index they wrap (quantizer, base index)
        return (faiss.IndexRefineFlat(ivf) if params["refine"] else ivf), ivf   # refine: adds go to both

    def _search_with(self, params):
        import faiss
        ivf_params = faiss.SearchParametersIVF(nprobe=int(params["nprobe"]))
        r = int(params["refine_factor"])
        if r <= 1:
            return self._ivf, ivf_params
        refine = faiss.IndexRefineSearchParameters(k_factor=float(r), base_index_params=ivf_params)
        refine._keep = ivf_params   # SWIG holds a raw pointer: keep the IVF parameters alive with it
        return self._index, refine

    def _build_stats(self):
        return {**super()._build_stats(), "M": self._m, "code_size": int(self._ivf.code_size)}


def _quantizer(dim: int, metric: int):
    """The coarse quantizer: exact search over the nlist centroids in the index's metric."""
    import faiss
    return faiss.IndexFlatL2(dim) if metric == faiss.METRIC_L2 else faiss.IndexFlatIP(dim)


def pq_m(dim: int, m) -> int:
    """M as given, or the largest divisor of `dim` that is <= dim/8 (at least 1)."""
    if m is not None:
        return int(m)
    return max(d for d in checks.divisors(dim) if d <= max(1, dim // 8))


def _training_rows(x: np.ndarray, params: dict) -> np.ndarray:
    """All rows, or `train_size` rows drawn without replacement with `seed` (sorted: memmap-friendly)."""
    size = params["train_size"]
    if size is None or size >= len(x):
        return x
    rows = np.sort(np.random.default_rng(int(params["seed"])).choice(len(x), int(size), replace=False))
    return x[rows]


def _clustering_params(ivf):
    yield ivf.cp
    pq = getattr(ivf, "pq", None)
    if pq is not None:
        yield pq.cp


def _enough_points(index, param: str, centroids: int, n_train: int, params: dict, *, shown=None,
                   bound: str | None = None) -> None:
    """k-means into `centroids` needs that many training points (error) and faiss wants 39 each (warning)."""
    shown = centroids if shown is None else shown
    source = f"{n_train} training points" + (f" (train_size={params['train_size']})" if params["train_size"] else "")
    if n_train < centroids:
        raise index.param_error(param, shown, f"{bound or f'1..{n_train}'}: k-means into {centroids} centroids "
                                f"needs at least that many training points; there are {source}")
    if n_train < MIN_POINTS_PER_CENTROID * centroids:
        warnings.warn(f"{index.name} index: {param}={shown} trains {centroids} centroids on {source}, fewer "
                      f"than faiss's {MIN_POINTS_PER_CENTROID} per centroid "
                      f"({MIN_POINTS_PER_CENTROID * centroids}); the centroids may be poor", stacklevel=2)


def faiss_ivf_flat(**params) -> FaissIVFFlatIndex:
    """Registry factory: `--indexes faiss-ivf-flat`."""
    return FaissIVFFlatIndex(**params)


def faiss_ivf_pq(**params) -> FaissIVFPQIndex:
    """Registry factory: `--indexes faiss-ivf-pq`."""
    return FaissIVFPQIndex(**params)
