"""V-measure of a clustering against gold labels on weighted multisets of the items (bootstrap resamples,
leave-one-out sets), from contingency counts: one sort of the items, then O(c n) array work.

V-measure = 2 h c / (h + c), homogeneity h = I(C; K) / H(C), completeness c = I(C; K) / H(K) (1 where the
entropy is 0), with I and H from the (weighted) contingency table, as sklearn.metrics.v_measure_score
computes them; the tests check equality with sklearn on resampled items. `VMeasureResampler` sorts the items
by contingency cell once; per chunk of counts it sums them per cell (the one O(c n) step) and the label and
cluster totals from the cells. Integer counts take x log x from a table. The jackknife has a closed form:
leaving item i out lowers its cell, its label and its cluster by one (`v_measure_jackknife`).
"""
from __future__ import annotations

import numpy as np

CHUNK = 1 << 18


def _groups(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted order, start of each distinct code in that order)."""
    order = np.argsort(codes, kind="stable")
    s = codes[order]
    return order, np.flatnonzero(np.r_[True, s[1:] != s[:-1]])


def _xlogx(counts: np.ndarray, table: np.ndarray | None = None) -> np.ndarray:
    """x log x elementwise (0 for 0): from `table` (k log k for k = 0, 1, ...) where every count is an integer
    the table covers, else computed."""
    if table is not None:
        k = counts.astype(np.intp)
        if k.size and k.min() >= 0 and k.max() < len(table) and np.array_equal(k, counts):
            return table[k]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, counts * np.log(np.where(counts > 0, counts, 1.0)), 0.0)


def _sum_xlogx(counts: np.ndarray, table: np.ndarray | None = None) -> np.ndarray:
    return _xlogx(counts, table).sum(axis=1)


def _v_from_entropies(ent_c, ent_k, ent_ck, total) -> np.ndarray:
    """V-measure from the sums of x log x over the label, cluster and cell counts and the total count."""
    log_n = np.log(np.where(total > 0, total, 1.0))
    h_c = log_n - ent_c / total          # entropy of the labels
    h_k = log_n - ent_k / total          # entropy of the clusters
    mi = np.maximum(ent_ck / total + log_n - ent_c / total - ent_k / total, 0.0)   # sklearn clips at 0
    with np.errstate(divide="ignore", invalid="ignore"):
        hom = np.where(h_c > 0, mi / np.where(h_c > 0, h_c, 1.0), 1.0)
        com = np.where(h_k > 0, mi / np.where(h_k > 0, h_k, 1.0), 1.0)
        return np.where(hom + com > 0, 2 * hom * com / np.where(hom + com > 0, hom + com, 1.0), 0.0)


def _codes(labels, clusters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _, lab = np.unique(np.asarray(labels), return_inverse=True)
    _, clu = np.unique(np.asarray(clusters), return_inverse=True)
    lab, clu = lab.astype(np.int64).ravel(), clu.astype(np.int64).ravel()
    return lab, clu, lab * (int(clu.max(initial=0)) + 1) + clu


class VMeasureResampler:
    """V-measure of weighted multisets of the (label, cluster) items: items sorted by cell once, then each
    call on counts w (c, n) is O(c n)."""

    def __init__(self, labels, clusters):
        lab, clu, cell = _codes(labels, clusters)
        self.order, self.starts = _groups(cell)
        first = self.order[self.starts]                      # one item of each cell, cells in code order
        cell_lab, cell_clu = lab[first], clu[first]
        self.lab_starts = np.flatnonzero(np.r_[True, cell_lab[1:] != cell_lab[:-1]])   # labels: contiguous
        self.clu_order, self.clu_starts = _groups(cell_clu)
        self.table = _xlogx(np.arange(len(lab) + 1, dtype=np.float64))

    def __call__(self, w: np.ndarray) -> np.ndarray:
        w = np.asarray(w, dtype=np.float64)
        out = []
        rows = max(1, CHUNK // max(1, w.shape[1]))
        for i in range(0, len(w), rows):
            cells = np.add.reduceat(np.take(w[i:i + rows], self.order, axis=1), self.starts, axis=1)
            labs = np.add.reduceat(cells, self.lab_starts, axis=1)
            clus = np.add.reduceat(np.take(cells, self.clu_order, axis=1), self.clu_starts, axis=1)
            out.append(_v_from_entropies(_sum_xlogx(labs, self.table), _sum_xlogx(clus, self.table),
                                         _sum_xlogx(cells, self.table), labs.sum(axis=1)))
        return np.concatenate(out) if out else np.empty(0)


def v_measure_weighted(labels, clusters, w: np.ndarray) -> np.ndarray:
    """V-measure of each weighted multiset of the (label, cluster) items; w: (c, n) non-negative counts."""
    return VMeasureResampler(labels, clusters)(w)


def v_measure_jackknife(labels, clusters) -> np.ndarray:
    """V-measure with each item left out in turn (n values), in closed form: x log x changes only in the left-out
    item's cell, label and cluster."""
    lab, clu, cell = _codes(labels, clusters)
    n = len(lab)
    if n == 0:
        return np.zeros(0)
    f = _xlogx(np.arange(n + 1, dtype=np.float64))
    ents = []
    for codes in (lab, clu, cell):
        _, inv, sizes = np.unique(codes, return_inverse=True, return_counts=True)
        own = sizes[inv.ravel()]
        ents.append(f[sizes].sum() - f[own] + f[own - 1])
    return _v_from_entropies(ents[0], ents[1], ents[2], np.full(n, n - 1.0))


def v_measure(labels, clusters) -> float:
    """sklearn's v_measure_score itself (bit for bit the score a clustering task reports)."""
    from sklearn.metrics import v_measure_score
    return float(v_measure_score(np.asarray(labels), np.asarray(clusters)))
