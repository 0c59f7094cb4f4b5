"""V-measure of a clustering against gold labels on weighted multisets of the items (bootstrap resamples,
leave-one-out sets), from contingency counts: one sort of the items, then O(c n) array work.

V-measure = 2 h c / (h + c), homogeneity h = I(C; K) / H(C), completeness c = I(C; K) / H(K) (1 where the
entropy is 0), with I and H from the (weighted) contingency table, as sklearn.metrics.v_measure_score
computes them; the tests check equality with sklearn on resampled items.
"""
from __future__ import annotations

import numpy as np

CHUNK = 1 << 20


def _groups(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted order, start of each distinct code in that order)."""
    order = np.argsort(codes, kind="stable")
    s = codes[order]
    return order, np.flatnonzero(np.r_[True, s[1:] != s[:-1]])


def _sum_xlogx(counts: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, counts * np.log(np.where(counts > 0, counts, 1.0)), 0.0).sum(axis=1)


def v_measure_weighted(labels, clusters, w: np.ndarray) -> np.ndarray:
    """V-measure of each weighted multiset of the (label, cluster) items; w: (c, n) non-negative counts."""
    _, lab = np.unique(np.asarray(labels), return_inverse=True)
    _, clu = np.unique(np.asarray(clusters), return_inverse=True)
    cell = lab.astype(np.int64) * (int(clu.max()) + 1) + clu
    plans = [_groups(codes) for codes in (lab, clu, cell)]
    out = []
    rows = max(1, CHUNK // max(1, w.shape[1]))
    for i in range(0, len(w), rows):
        wc = w[i:i + rows]
        ent_c, ent_k, ent_ck = (_sum_xlogx(np.add.reduceat(wc[:, order], starts, axis=1)) for order, starts in plans)
        total = wc.sum(axis=1)
        log_n = np.log(np.where(total > 0, total, 1.0))
        h_c = log_n - ent_c / total          # entropy of the labels
        h_k = log_n - ent_k / total          # entropy of the clusters
        mi = np.maximum(ent_ck / total + log_n - ent_c / total - ent_k / total, 0.0)   # sklearn clips at 0
        with np.errstate(divide="ignore", invalid="ignore"):
            hom = np.where(h_c > 0, mi / np.where(h_c > 0, h_c, 1.0), 1.0)
            com = np.where(h_k > 0, mi / np.where(h_k > 0, h_k, 1.0), 1.0)
            out.append(np.where(hom + com > 0, 2 * hom * com / np.where(hom + com > 0, hom + com, 1.0), 0.0))
    return np.concatenate(out) if out else np.empty(0)


def v_measure(labels, clusters) -> float:
    """sklearn's v_measure_score itself (bit for bit the score a clustering task reports)."""
    from sklearn.metrics import v_measure_score
    return float(v_measure_score(np.asarray(labels), np.asarray(clusters)))
