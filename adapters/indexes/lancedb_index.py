"""LanceDB (embedded, lancedb 0.40.0) run the way its users run it locally: through its own client.

Each build writes the vectors into a new database folder (`lancedb.connect(folder)`, one table with an
int64 `pos` column and a float32 FixedSizeList `vector` column), creates the vector index with
`table.create_index("vector", config=...)`, and searches with `table.search(queries)` (one multi-vector
query per batch; LanceDB tags the rows with `query_index`). The folder is made under the build parameter
`path` (default: the system temp folder) and removed by `close()`, by garbage collection, at interpreter
exit (`weakref.finalize`) and when the build fails; a rebuild removes the previous folder first.

One registry name per LanceDB index type, not one `index_type` parameter: each type has its own
parameters (an IVF-PQ knob given to the flat index is an unknown-parameter error at plan time, not a
silently ignored value) and the ANN report draws one Pareto front per index name.

- `lancedb-flat`: no index, LanceDB's exhaustive scan (exact).
- `lancedb-ivf-pq`: IVF_PQ (`IvfPq`). Build: num_partitions, num_sub_vectors (None: LanceDB's rule,
  dim/16, else dim/8, else 1; the value used is in stats), num_bits (4 or 8), max_iterations,
  sample_rate. Query: nprobes (<= num_partitions; sets LanceDB's minimum and maximum nprobes),
  refine_factor (None: no re-ranking; r: LanceDB re-ranks the top k*r with the stored float32 vectors).
  LanceDB 0.40 silently trains fewer IVF-PQ partitions than asked when n >= 256 and num_partitions >
  n // sample_rate (it logs "training 7 of the 16 requested IVF partitions"; measured for n = 256..5000):
  an explicit num_partitions above that cap is refused with the cap in the message, so a label never
  names partitions that do not exist. num_partitions=None (default) takes LanceDB's documented default
  sqrt(n) within that cap, and nprobes=None LanceDB's default 20 within the partitions; the values used
  are in stats.
- `lancedb-hnsw-sq`: IVF_HNSW_SQ (`HnswSq`: an HNSW graph per IVF partition over 8-bit scalar-quantised
  vectors). Parameter names as the other HNSW adapters: M -> LanceDB `m`, ef_construction ->
  `ef_construction`, ef -> the query's `ef` (>= k, and >= k * refine_factor when re-ranking: LanceDB's
  graph search then returns k * refine_factor candidates); plus num_partitions (default 1: one graph,
  as LanceDB recommends for tables that fit in memory), max_iterations, sample_rate; query nprobes,
  refine_factor.

Metrics: ip -> LanceDB "dot", cosine -> "cosine", l2 -> "l2". LanceDB returns 1 - <q, x> for "dot",
1 - cos for "cosine" and the squared L2 distance for "l2" (checked against numpy); the first two are
converted to -<q, x> / -cos by subtracting 1 (base.py convention). Quantised indexes return the
distances of their codes unless refine_factor re-ranks with the float32 vectors.

Determinism: lancedb-flat is exact. The ANN builds are not deterministic and LanceDB 0.40 exposes no
seed to make them so: its k-means (IVF partitions, PQ codebooks) and its HNSW level draws are unseeded.
Measured here: two IVF-PQ builds of the same rows share ~10-20% of result positions, two HNSW-SQ builds
with one partition and one compute thread differ in 1-3% of them. Searches on one build repeat exactly.
Threads: `threads` (default 1) sets LANCE_CPU_THREADS, LanceDB's pool for compute-heavy work, before
LanceDB first starts it; it is read once per process, so a second value in one process is refused.
LanceDB's async I/O runtime keeps its own threads.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import weakref

import numpy as np

from harness.errors import HarnessError

from . import checks
from .base import IndexParamError, VectorIndex

DISTANCE = {"ip": "dot", "cosine": "cosine", "l2": "l2"}
_THREADS: list[int] = []   # LANCE_CPU_THREADS this process gave LanceDB (it reads it once)


class LanceDBIndex(VectorIndex):
    """Shared part: the database folder, the table, the multi-vector search. Subclasses add the index."""

    name = "lancedb-flat"
    is_exact = True
    BUILD_DEFAULTS = {"metric": "ip", "path": None, "threads": 1}
    QUERY_DEFAULTS: dict = {}

    def __init__(self, **params):
        super().__init__(**params)
        self._folder: str | None = None
        self._finalizer = None
        self._table = None
        self._index_info: dict = {}

    # -- checks -----------------------------------------------------------------------------------
    def _check(self, build, query, dim, k):
        path = build["path"]
        if path is not None and not (os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)):
            raise self.param_error("path", path, "an existing writable folder (default: the system temp folder)")
        checks.int_param(self, build, "threads", 1)
        if _THREADS and int(build["threads"]) != _THREADS[0]:
            raise self.param_error("threads", build["threads"], f"{_THREADS[0]} (LanceDB reads LANCE_CPU_THREADS "
                                   "once per process, and this process already started it)")
        self._check_index(build, query, dim, k)

    def _check_index(self, build, query, dim, k) -> None:
        """Range checks of the index type's own parameters (none for the flat scan)."""

    # -- build ------------------------------------------------------------------------------------
    def _build(self, x, order, params):
        lancedb = _lancedb(int(params["threads"]))
        import pyarrow as pa
        self._index_check_n(params, len(x))
        self.close()
        self._index_info = {}
        self._folder = self._make_folder(params["path"])
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._folder, ignore_errors=True)
        positions = order if order is not None else np.arange(len(x), dtype=np.int64)
        rows = x[positions] if order is not None else x
        try:
            db = lancedb.connect(self._folder)
            data = pa.table({"pos": pa.array(np.arange(len(x), dtype=np.int64)),
                             "vector": pa.FixedSizeListArray.from_arrays(pa.array(rows.reshape(-1)), int(x.shape[1]))})
            table = db.create_table("vectors", data=data)
            config = self._index_config(params)
            if config is not None:
                table.create_index("vector", config=config)
                self._index_info = _index_details(table)
        except Exception as e:
            self.close()
            raise HarnessError(f"{self.name} index: LanceDB build failed in {self._describe_path(params)}: "
                               f"{type(e).__name__}: {e}") from None
        self._table = table
        return positions

    def _make_folder(self, path) -> str:
        try:
            return tempfile.mkdtemp(prefix=f"{self.name}-", dir=path)
        except OSError as e:
            raise IndexParamError(f"{self.name} index: parameter path={path!r}: cannot create the database folder "
                                  f"there ({e.strerror or e}); valid: an existing writable folder") from None

    def _describe_path(self, params) -> str:
        return f"path={params['path'] or tempfile.gettempdir()!r}"

    def _index_config(self, params):
        return None   # flat: no index, LanceDB scans every row

    def _index_check_n(self, params, n: int) -> None:
        """Checks that need the number of vectors (num_partitions <= n)."""

    # -- search -----------------------------------------------------------------------------------
    def _search(self, q, k, params):
        if self._table is None:
            raise HarnessError(f"{self.name} index: search after close() (the database folder is removed)")
        metric = self.build_params["metric"]
        s = self._table.search(q, vector_column_name="vector").distance_type(DISTANCE[metric]).limit(k)
        s = self._tune(s.select(["pos", "_distance"]), params)
        try:
            r = s.to_arrow()
        except Exception as e:   # a LanceDB refusal, worded by the index and the query point
            raise HarnessError(f"{self.name} index: LanceDB search failed for k={k}, {params}: "
                               f"{type(e).__name__}: {e}") from None
        pos = r.column("pos").to_numpy()
        dist = r.column("_distance").to_numpy().astype(np.float32, copy=False)
        qi = r.column("query_index").to_numpy() if "query_index" in r.column_names else np.zeros(len(pos), np.int64)
        order = np.lexsort((dist, qi))    # per query, best first (LanceDB's own order, made explicit)
        qi, pos, dist = qi[order], pos[order], dist[order]
        rank = np.arange(len(qi)) - np.searchsorted(qi, qi)   # position inside its query's block
        positions = np.full((len(q), k), -1, np.int64)
        distances = np.full((len(q), k), np.inf, np.float32)
        positions[qi, rank], distances[qi, rank] = pos, dist
        if metric != "l2":
            distances = distances - np.float32(1.0)   # 1 - ip (1 - cos) -> -ip (-cos); inf stays inf
        return positions, distances

    def _tune(self, s, params):
        return s   # flat: no query knobs

    # -- lifecycle and stats ----------------------------------------------------------------------
    def close(self) -> None:
        """Remove the database folder now (also done on garbage collection and at exit)."""
        self._table = None
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None

    @property
    def folder(self) -> str | None:
        return self._folder

    def _build_stats(self):
        import lancedb
        return {"size_bytes": _folder_bytes(self._folder), "threads": int(self.build_params["threads"]),
                "deterministic": self._deterministic(), "library": f"lancedb {lancedb.__version__}",
                "distance_type": DISTANCE[self.build_params["metric"]], **self._index_info}

    def _deterministic(self) -> bool:
        return True


class LanceDBIVFPQ(LanceDBIndex):
    name = "lancedb-ivf-pq"
    is_exact = False
    BUILD_DEFAULTS = {**LanceDBIndex.BUILD_DEFAULTS, "num_partitions": None, "num_sub_vectors": None,
                      "num_bits": 8, "max_iterations": 50, "sample_rate": 256}
    QUERY_DEFAULTS = {"nprobes": None, "refine_factor": None}
    DEFAULT_NPROBES = 20   # LanceDB's own default

    def _check_index(self, build, query, dim, k):
        checks.int_param(self, build, "num_partitions", 1, none="sqrt(n) within LanceDB's n // sample_rate cap")
        checks.int_param(self, build, "max_iterations", 1)
        checks.int_param(self, build, "sample_rate", 1)
        if build["num_bits"] not in (4, 8):
            raise self.param_error("num_bits", build["num_bits"], "4 or 8")
        m = checks.int_param(self, build, "num_sub_vectors", 1, none="LanceDB's rule: dim/16, dim/8 or 1")
        if m is not None and dim is not None and dim % m:
            raise self.param_error("num_sub_vectors", m, f"a divisor of the dimension {dim} "
                                   f"({', '.join(str(v) for v in checks.divisors(dim))})")
        if query is not None:
            _check_probes(self, build, query)

    def _index_check_n(self, params, n):
        sr = int(params["sample_rate"])
        cap = max(1, n // sr) if n >= 256 else n   # LanceDB's silent cap (module docstring)
        p = params["num_partitions"]
        if p is None:
            self._partitions = max(1, min(int(round(n ** 0.5)), cap))
        elif int(p) > cap:
            raise self.param_error("num_partitions", p, f"1..{cap} for {n} vectors at sample_rate={sr} (LanceDB "
                                   "trains at most n // sample_rate IVF-PQ partitions; lower sample_rate for more)")
        else:
            self._partitions = int(p)

    def _index_config(self, params):
        from lancedb.index import IvfPq
        return IvfPq(distance_type=DISTANCE[params["metric"]], num_partitions=self._partitions,
                     num_sub_vectors=params["num_sub_vectors"], num_bits=int(params["num_bits"]),
                     max_iterations=int(params["max_iterations"]), sample_rate=int(params["sample_rate"]))

    def _tune(self, s, params):
        nprobes = params["nprobes"]
        if nprobes is None:
            nprobes = min(self.DEFAULT_NPROBES, self._partitions)
        elif int(nprobes) > self._partitions:
            raise self.param_error("nprobes", nprobes, f"1..{self._partitions} (the partitions of this build)")
        s = s.nprobes(int(nprobes))
        return s.refine_factor(int(params["refine_factor"])) if params["refine_factor"] else s

    def _deterministic(self) -> bool:
        return False   # unseeded k-means for partitions and PQ codebooks

    def _build_stats(self):
        return {**super()._build_stats(), "num_partitions": self._partitions}


class LanceDBHNSWSQ(LanceDBIndex):
    name = "lancedb-hnsw-sq"
    is_exact = False
    # M / ef_construction / ef as the other HNSW adapters (LanceDB's own defaults: m=20, ef_construction=300,
    # ef = 1.5 k), so libraries compare on equal settings
    BUILD_DEFAULTS = {**LanceDBIndex.BUILD_DEFAULTS, "M": 16, "ef_construction": 128, "num_partitions": 1,
                      "max_iterations": 50, "sample_rate": 256}
    QUERY_DEFAULTS = {"ef": 100, "nprobes": 1, "refine_factor": None}

    def _check_index(self, build, query, dim, k):
        checks.hnsw_params(self, build, query, k)   # M >= 2, ef_construction >= 1, ef >= k
        checks.int_param(self, build, "num_partitions", 1)
        checks.int_param(self, build, "max_iterations", 1)
        checks.int_param(self, build, "sample_rate", 1)
        if query is not None:
            _check_probes(self, build, query)
            rf = query["refine_factor"]
            if rf and k is not None and int(query["ef"]) < int(k) * int(rf):   # LanceDB's own error otherwise
                raise self.param_error("ef", query["ef"], f"an integer >= k * refine_factor = {int(k) * int(rf)} "
                                       "(LanceDB's graph search returns k * refine_factor candidates)")

    def _index_check_n(self, params, n):
        _partitions_fit(self, params, n)

    def _index_config(self, params):
        from lancedb.index import HnswSq
        return HnswSq(distance_type=DISTANCE[params["metric"]], num_partitions=int(params["num_partitions"]),
                      m=int(params["M"]), ef_construction=int(params["ef_construction"]),
                      max_iterations=int(params["max_iterations"]), sample_rate=int(params["sample_rate"]))

    def _tune(self, s, params):
        s = s.ef(int(params["ef"])).nprobes(int(params["nprobes"]))
        return s.refine_factor(int(params["refine_factor"])) if params["refine_factor"] else s

    def _deterministic(self) -> bool:
        return False   # unseeded HNSW levels (and k-means with several partitions)


# -- helpers ----------------------------------------------------------------------------------------
def _lancedb(threads: int):
    """Import lancedb, first giving its compute pool `threads` threads (read once per process)."""
    if not _THREADS:
        os.environ["LANCE_CPU_THREADS"] = str(threads)
        _THREADS.append(threads)
    import lancedb
    return lancedb


def _check_probes(index: VectorIndex, build: dict, query: dict) -> None:
    checks.int_param(index, query, "refine_factor", 1, none="no re-ranking")
    if checks.int_param(index, query, "nprobes", 1, none="LanceDB's 20, at most the partitions") is None:
        return
    if build["num_partitions"] is not None and int(query["nprobes"]) > int(build["num_partitions"]):
        raise index.param_error("nprobes", query["nprobes"], f"1..num_partitions={build['num_partitions']}")


def _partitions_fit(index: VectorIndex, params: dict, n: int) -> None:
    if int(params["num_partitions"]) > n:
        raise index.param_error("num_partitions", params["num_partitions"], f"1..{n} (the number of vectors)")


def _index_details(table) -> dict:
    """What LanceDB reports it built (e.g. the num_sub_vectors its default rule chose)."""
    info = table.list_indices()[0]
    out = {"index_type": info.index_type}
    compression = (getattr(info, "index_details", None) or {}).get("compression") or {}
    out.update({key: compression[key] for key in ("num_sub_vectors", "num_bits") if key in compression})
    return out


def _folder_bytes(folder: str | None) -> int:
    total = 0
    for root, _, files in os.walk(folder or ""):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def lancedb_flat(**params) -> LanceDBIndex:
    """Registry factory: `--indexes lancedb-flat`."""
    return LanceDBIndex(**params)


def lancedb_ivf_pq(**params) -> LanceDBIVFPQ:
    """Registry factory: `--indexes lancedb-ivf-pq`."""
    return LanceDBIVFPQ(**params)


def lancedb_hnsw_sq(**params) -> LanceDBHNSWSQ:
    """Registry factory: `--indexes lancedb-hnsw-sq`."""
    return LanceDBHNSWSQ(**params)
