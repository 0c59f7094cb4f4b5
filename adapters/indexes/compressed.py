"""Search on compressed vectors, with rescoring (issue 17): `binary-hamming` and `int8-flat`.

Both take the float32 corpus (the `VectorIndex` protocol), quantise it with `harness.quantize` (codes
identical to sentence-transformers' `quantize_embeddings`) and search the codes exhaustively, as
sentence-transformers' `semantic_search_faiss(exact=True)` does:

- `binary-hamming`: sign bits packed (ubinary), faiss `IndexBinaryFlat`, Hamming distance; the float32
  query is binarised the same way.
- `int8-flat`: scalar codes (`code`: int8 or uint8) from per-dimension ranges of a calibration set (the
  corpus by default, or `ranges`, a (2, d) list from a named set), the query quantised with the same ranges.
  int8: faiss `IndexScalarQuantizer(QT_8bit_direct_signed)`, one byte per dimension, the code values used
  as they are; every product and partial sum is an integer below 2^24 when d <= 1024 (128 * 128 * d), so
  its float32 arithmetic is the integer dot product, exactly. uint8: what sentence-transformers' faiss path
  does (`IndexFlatIP` on float32 copies of the codes, 4 bytes per dimension in the library).
- Rescoring (query parameters `rescore`, `rescore_multiplier` r): the top k * r candidates of the compressed
  search are rescored with the float32 query against the candidates' codes (unpacked bits, or int8 codes
  dequantised: sentence-transformers' einsum and argsort, so the ids are the same) or, with
  `rescore_vectors="float32"`, against the float32 corpus rows (kept in memory; counted in size_bytes).

Distances are "smaller is closer": Hamming distance, the negative code dot product, or the negative
rescored score. Only inner-product metrics (ip, cosine) make sense on sign bits and codes.
"""
from __future__ import annotations

import numpy as np

from harness import quantize as qz

from . import checks
from .base import VectorIndex
from .faiss_common import library

RESCORE_VECTORS = ("codes", "float32")
RESCORE_BLOCK_BYTES = 64 * 2**20   # candidates of a block of queries, as float64


class _CompressedIndex(VectorIndex):
    is_exact = False   # exhaustive, but on codes: its ranking is not the float32 one
    precision = ""
    BUILD_DEFAULTS = {"metric": "ip", "rescore_vectors": "codes"}
    QUERY_DEFAULTS = {"rescore": False, "rescore_multiplier": 4}

    def _check(self, build, query, dim, k):
        if build["metric"] not in ("ip", "cosine"):
            raise self.param_error("metric", build["metric"], "ip or cosine (codes have no L2 geometry)")
        if build.get("rescore_vectors") not in RESCORE_VECTORS:
            raise self.param_error("rescore_vectors", build.get("rescore_vectors"), " or ".join(RESCORE_VECTORS))
        if query is not None:
            if not isinstance(query.get("rescore"), bool):
                raise self.param_error("rescore", query.get("rescore"), "True or False")
            checks.int_param(self, query, "rescore_multiplier", 1)

    def _build(self, x, order, params):
        import faiss
        self._codes = self._encode(x, params)
        self._x = np.array(x, dtype=np.float32) if params["rescore_vectors"] == "float32" else None
        self._index = self._faiss_index(faiss, x.shape[1])
        self._index.add(self._library_codes(self._codes))
        return None

    def _search(self, q, k, params):
        rescore = params["rescore"]
        kk = k * int(params["rescore_multiplier"]) if rescore else k
        scores, ids = self._index.search(self._library_codes(self._quantize(q)), kk)
        if not rescore:
            return ids, self._distances(scores)
        out_ids, out_d = np.empty((len(q), k), np.int64), np.empty((len(q), k), np.float64)
        step = max(1, RESCORE_BLOCK_BYTES // (8 * kk * self.dim))   # row-wise: blocking changes no result
        for s in range(0, len(q), step):
            out_ids[s:s + step], out_d[s:s + step] = self._rescore(q[s:s + step], ids[s:s + step], k)
        return out_ids, out_d

    def _rescore(self, q, ids, k):
        """sentence-transformers' rescoring: einsum in float64, padding slots disqualified, argsort of -score."""
        rescored = np.einsum("ij,ikj->ik", q, self._candidates(ids)).astype(np.float64, copy=False)
        rescored[ids == -1] = -np.inf
        best = np.argsort(-rescored)[:, :k]
        rows = np.arange(len(q))[:, None]
        return ids[rows, best], -rescored[rows, best]

    def _candidates(self, ids: np.ndarray) -> np.ndarray:
        """The rescoring vectors of each query's candidates (zeros at padding slots), (nq, k*r, d)."""
        safe = np.clip(ids, 0, None)
        if self._x is not None:
            cand = self._x[safe]
        else:
            cand = self._rescore_codes(self._codes[safe])
        cand[ids == -1] = 0
        return cand

    def _build_stats(self):
        code_bytes = self._library_bytes()
        extra = int(self._x.nbytes) if self._x is not None else 0   # float32 rescoring rows
        return {"size_bytes": code_bytes + extra, "code_bytes": code_bytes,
                "bytes_per_vector": qz.bytes_per_vector(self.dim, self.precision), "precision": self.precision,
                "threads": _threads(), "library": library(), "deterministic": True}

    # -- per precision -----------------------------------------------------------------------------
    def _encode(self, x, params):
        raise NotImplementedError

    def _quantize(self, q):
        raise NotImplementedError

    def _faiss_index(self, faiss, dim):
        raise NotImplementedError

    def _library_codes(self, codes):
        return codes

    def _library_bytes(self) -> int:
        """Bytes of the codes inside the library index."""
        return int(self._codes.nbytes)

    def _distances(self, scores):
        raise NotImplementedError

    def _rescore_codes(self, codes):
        raise NotImplementedError


class BinaryHammingIndex(_CompressedIndex):
    name = "binary-hamming"
    precision = "ubinary"

    def _encode(self, x, params):
        return qz.quantize(x, "ubinary")

    def _quantize(self, q):
        return qz.quantize(q, "ubinary")

    def _faiss_index(self, faiss, dim):
        return faiss.IndexBinaryFlat(((dim + 7) // 8) * 8)

    def _distances(self, hamming):
        return hamming.astype(np.float32)

    def _rescore_codes(self, codes):
        return np.unpackbits(codes, axis=-1)[..., :self.dim].astype(int)


class Int8FlatIndex(_CompressedIndex):
    name = "int8-flat"
    BUILD_DEFAULTS = {**_CompressedIndex.BUILD_DEFAULTS, "code": "int8", "ranges": None}

    @property
    def precision(self) -> str:
        return self.build_params["code"]

    def _check(self, build, query, dim, k):
        super()._check(build, query, dim, k)
        if build.get("code") not in qz.SCALAR:
            raise self.param_error("code", build.get("code"), " or ".join(qz.SCALAR))
        if build["code"] == "int8" and dim is not None and dim > 1024:
            raise self.param_error("code", "int8", f"uint8 above d=1024 (d={dim}: the float32 kernel's int8 dot "
                                                   "product is exact only up to 1024 dimensions)")
        ranges = build.get("ranges")
        if ranges is not None and dim is not None and np.shape(ranges) != (2, dim):
            raise self.param_error("ranges", f"shape {np.shape(ranges)}", f"None (the corpus) or shape (2, {dim})")

    def _encode(self, x, params):
        given = params.get("ranges")
        self._ranges = (np.asarray(given, dtype=np.float32) if given is not None
                        else qz.calibration_ranges(x, f"{self.name} index: calibration set (the corpus)"))
        self.calibration = "given ranges" if given is not None else "corpus"
        return qz.quantize(x, params["code"], self._ranges)

    def _quantize(self, q):
        return qz.quantize(q, self.build_params["code"], self._ranges)

    def _faiss_index(self, faiss, dim):
        if self.build_params["code"] == "uint8":   # sentence-transformers' faiss path: float32 copies of the codes
            return faiss.IndexFlatIP(dim)
        return faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit_direct_signed, faiss.METRIC_INNER_PRODUCT)

    def _library_codes(self, codes):
        return np.ascontiguousarray(codes, dtype=np.float32)   # faiss takes code values as floats

    def _library_bytes(self) -> int:
        return int(self.n * self.dim * (4 if self.build_params["code"] == "uint8" else 1))

    def _distances(self, scores):
        return -scores

    def _rescore_codes(self, codes):
        return qz.dequantize(codes.astype(int), self.build_params["code"], self._ranges)

    def _build_stats(self):
        return {**super()._build_stats(), "calibration": self.calibration, "calibration_n": self.n
                if self.calibration == "corpus" else None}


def _threads() -> int:
    import faiss
    return int(faiss.omp_get_max_threads())


def binary_hamming(**params) -> BinaryHammingIndex:
    """Registry factory: `--indexes "binary-hamming[rescore=True,rescore_multiplier=4]"`."""
    return BinaryHammingIndex(**params)


def int8_flat(**params) -> Int8FlatIndex:
    """Registry factory: `--indexes "int8-flat(code=int8)[rescore=True]"`."""
    return Int8FlatIndex(**params)
