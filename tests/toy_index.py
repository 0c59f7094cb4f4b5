"""A toy vector index, written the way a user adds one: this file plus one registry line (on import,
as a `$HARNESS_PLUGINS` module). Used by the open-engine test through retrieval, HNSWInsertionOrder
and RankingShift with no edit to the harness.

`toy-pivots`: the first `M * 4` rows in insertion order become pivots; every row joins the list of
its nearest pivot; a search scans the lists of the `ceil(ef / 10)` pivots nearest to the query
exactly (numpy). Insertion order matters (it picks the pivots) and ef trades recall for work, so
both studies have something to measure. `ef_construction` is accepted and unused.
"""
from __future__ import annotations

import math

import numpy as np

from adapters.indexes.base import VectorIndex, check_ef
from harness import registry


class ToyPivotIndex(VectorIndex):
    name = "toy-pivots"
    BUILD_DEFAULTS = {"metric": "ip", "M": 4, "ef_construction": 0}
    QUERY_DEFAULTS = {"ef": 100}   # retrieval asks for a top-100 with the default query parameters

    def _build(self, x, order, params):
        positions = order if order is not None else np.arange(len(x), dtype=np.int64)
        self._x = np.ascontiguousarray(x[positions])          # library position = insertion rank
        n_pivots = min(len(x), max(1, 4 * int(params["M"])))
        self._pivots = self._x[:n_pivots]
        self._owner = np.argmin(self._dist(self._x, self._pivots), axis=1)
        return positions

    def _dist(self, q, x):
        if self.build_params["metric"] == "l2":
            return (q * q).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2 * q @ x.T
        return -(q @ x.T)

    def _search(self, q, k, params):
        check_ef(int(params["ef"]), k)
        probes = min(len(self._pivots), math.ceil(int(params["ef"]) / 10))
        near = np.argsort(self._dist(q, self._pivots), axis=1, kind="stable")[:, :probes]
        ids = np.full((len(q), k), -1, dtype=np.int64)
        dist = np.full((len(q), k), np.inf, dtype=np.float32)
        for i in range(len(q)):
            cand = np.flatnonzero(np.isin(self._owner, near[i]))
            d = self._dist(q[i:i + 1], self._x[cand])[0]
            top = np.argsort(d, kind="stable")[:k]
            ids[i, :len(top)], dist[i, :len(top)] = cand[top], d[top]
        return ids, dist

    def _build_stats(self):
        return {"size_bytes": int(self._x.nbytes), "threads": 1, "library": "numpy"}


registry.INDEXES["toy-pivots"] = "tests.toy_index:ToyPivotIndex"
