"""Intrinsic dimension estimators (methods.md §2), vectorised numpy on one shared kNN search.

kNN estimators take a `KNNResult` (tasks/metrics/knn.py) or a plain (dists, idx) pair of sorted
self-excluded Euclidean distances, so MLE, Amsaleg LID and TwoNN all read the same search:
- MLE (Levina & Bickel 2004): m_k(x) = (k-1) / sum_{j<k} log(T_k/T_j) per point ("unbiased": k-2),
  aggregated by the harmonic mean (MacKay & Ghahramani 2005; default), mean or median.
- LID (Amsaleg et al. 2015): k / sum_{j<k} log(T_k/T_j) = k/(k-1) x Levina-Bickel.
- TwoNN (Facco et al. 2017): mu = r2/r1; linear fit through the origin of -log(1 - i/N) on log mu
  over the smallest (1-f)N ratios, or the censored MLE (Denti et al. 2022).
lPCA (FO and participation ratio) reads the centred covariance spectrum of X itself.
Every formula and edge case follows scikit-dimension 0.5.0, the reference the tests check against.
"""
from __future__ import annotations

import warnings

import numpy as np

from harness.errors import HarnessError
from harness.vectors import check_matrix

from .knn import DUPLICATE_REL_TOL, KNNResult, knn

AGGREGATES = ("harmonic", "mean", "median")
FORMS = ("levina_bickel", "amsaleg")


def _dists(neighbours, k: int | None = None, *, min_k: int = 1) -> np.ndarray:
    d = neighbours.dists if isinstance(neighbours, KNNResult) else np.asarray(neighbours[0])
    d = np.asarray(d, dtype=np.float64)
    if d.ndim != 2:
        raise HarnessError(f"kNN distances must be a 2-D array (points x neighbours), got shape {d.shape}")
    if k is None:
        k = d.shape[1]
    if k < min_k:
        raise HarnessError(f"k={k} is too small: this estimator needs k >= {min_k}")
    if k > d.shape[1]:
        raise HarnessError(f"k={k} neighbours asked for, but the kNN search has only {d.shape[1]}")
    return d[:, :k]


def log_ratio_sums(neighbours, k: int) -> np.ndarray:
    """sum_{j<k} log(T_k/T_j) per point. A zero distance (a duplicate) is an error naming the row."""
    T = _dists(neighbours, k, min_k=3)
    zero = T[:, 0] <= 0
    if zero.any():
        raise HarnessError(f"point {int(np.flatnonzero(zero)[0])} has a neighbour at distance 0 (duplicate "
                           f"rows: {int(zero.sum())}); drop duplicates first (knn() does)")
    return np.log(T[:, -1:] / T[:, :-1]).sum(axis=1)


def lid_pointwise(neighbours, k: int = 20, *, form: str = "levina_bickel", unbiased: bool = False) -> np.ndarray:
    """Per-point estimate. k >= 3 (at k = 2 the k-2 form is 0 and the k-1 form is TwoNN unfitted)."""
    if form not in FORMS:
        raise HarnessError(f"LID form must be one of {FORMS}, got {form!r}")
    s = log_ratio_sums(neighbours, k)
    if form == "amsaleg":
        numerator = float(k)
    else:
        numerator = float(k - 2 if unbiased else k - 1)
    with np.errstate(divide="ignore"):
        m = numerator / s
    flat = int(np.count_nonzero(s == 0))
    if flat:
        warnings.warn(f"{flat} point(s) have all {k} neighbours at one distance: their LID is infinite",
                      RuntimeWarning, stacklevel=2)
    return m


def aggregate(pointwise: np.ndarray, how: str = "harmonic") -> float:
    """harmonic = 1/mean(1/m) (the pooled MLE, MacKay & Ghahramani); mean; median."""
    if how not in AGGREGATES:
        raise HarnessError(f"aggregate must be one of {AGGREGATES}, got {how!r}")
    m = np.asarray(pointwise, dtype=np.float64)
    if how == "harmonic":
        return float(1.0 / np.mean(1.0 / m))
    if how == "mean":
        return float(np.mean(m))
    return float(np.median(m))


def mle(neighbours, k: int = 20, *, aggregate_by: str = "harmonic", unbiased: bool = False) -> float:
    """Global Levina-Bickel MLE of the intrinsic dimension (skdim.id.MLE, comb='mle'|'mean'|'median')."""
    return aggregate(lid_pointwise(neighbours, k, unbiased=unbiased), aggregate_by)


def twonn(neighbours, *, discard_fraction: float = 0.1, method: str = "linear") -> float:
    """TwoNN from each point's first two neighbour distances (skdim.id.TwoNN).

    `neighbours` is a KNNResult, a (dists, idx) pair or an (n, 2) array of (r1, r2).
    Points with r1 = 0 (duplicates) are dropped with a counted warning, as skdim does.
    """
    if method not in ("linear", "mle"):
        raise HarnessError(f"TwoNN method must be 'linear' or 'mle', got {method!r}")
    if not 0 <= discard_fraction < 1:
        raise HarnessError(f"discard_fraction must be in [0, 1), got {discard_fraction!r}")
    if isinstance(neighbours, np.ndarray) and neighbours.ndim == 2 and neighbours.shape[1] == 2:
        r = np.asarray(neighbours, dtype=np.float64)
    else:
        r = _dists(neighbours, 2, min_k=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = r[:, 1] / r[:, 0]
    finite = np.isfinite(mu)
    if not finite.all():
        warnings.warn(f"TwoNN: dropping {int((~finite).sum())} point(s) with zero distance to their nearest "
                      "neighbour (duplicates)", RuntimeWarning, stacklevel=2)
        mu = mu[finite]
    N = len(mu)
    n_keep = int(N * (1 - discard_fraction))  # the same expression as skdim, so N' matches exactly
    if n_keep < 2:
        raise HarnessError(f"TwoNN needs at least 2 points after discarding, got {n_keep} of {N}")
    if method == "linear" and n_keep == N:
        raise HarnessError("TwoNN linear fit needs discard_fraction > 0 (the largest ratio has empirical CDF 1, "
                           "so -log(1 - F) is infinite); use discard_fraction=0 with method='mle'")
    log_mu = np.log(np.sort(mu)[:n_keep])
    if method == "mle":
        return float((n_keep - 1) / (log_mu.sum() + (N - n_keep) * log_mu[-1]))
    y = -np.log(1 - np.arange(1, n_keep + 1) / N)   # empirical CDF over the full count N
    return float(np.dot(log_mu, y) / np.dot(log_mu, log_mu))


def pca_spectrum(X) -> np.ndarray:
    """Eigenvalues of the centred covariance (ddof=1), descending: PCA's explained_variance_."""
    X = check_matrix(X, "lPCA input", min_rows=2, dtype=np.float64)
    Xc = X - X.mean(axis=0)
    n, d = Xc.shape
    if n >= d:
        ev = np.linalg.eigvalsh(Xc.T @ Xc / (n - 1))[::-1]
    else:
        ev = np.linalg.svd(Xc, compute_uv=False) ** 2 / (n - 1)
    ev = np.maximum(ev, 0.0)
    if ev[0] <= 0:
        raise HarnessError("lPCA input: every row is the same point (zero variance)")
    return ev


def lpca(X=None, ver: str = "FO", *, alpha_fo: float = 0.05, spectrum: np.ndarray | None = None) -> float:
    """Global PCA dimension: 'FO' counts eigenvalues > alpha_fo * largest (Fukunaga-Olsen);
    'participation_ratio' is (sum l)^2 / sum l^2. Linear span: S^5 in R^6 reads 6, correctly."""
    ev = pca_spectrum(X) if spectrum is None else np.asarray(spectrum, dtype=np.float64)
    if ver == "FO":
        return float(np.count_nonzero(ev > alpha_fo * ev[0]))
    if ver == "participation_ratio":
        return float(ev.sum() ** 2 / (ev ** 2).sum())
    raise HarnessError(f"lPCA version must be 'FO' or 'participation_ratio', got {ver!r}")


def pointwise_lid(X_or_knn, k: int = 20, form: str = "amsaleg", *, unbiased: bool = False,
                  metric: str = "l2", precision: str = "float32", rel_tol: float = DUPLICATE_REL_TOL) -> np.ndarray:
    """Per-input-row LID from the k nearest neighbours (self excluded), float64.

    form="amsaleg":        k / sum_{j<k} log(T_k/T_j)   (Amsaleg et al. 2015; Elliott & Clark)
    form="levina_bickel":  (k-1) / sum_{j<k} log(T_k/T_j)   (k-2 with unbiased=True)
    A duplicate row gets the value of its kept copy. Takes a matrix or a `KNNResult` with >= k columns.
    """
    res = X_or_knn if isinstance(X_or_knn, KNNResult) else knn(X_or_knn, k, metric, precision=precision,
                                                               rel_tol=rel_tol)
    return res.expand(lid_pointwise(res, k, form=form, unbiased=unbiased))


def estimate_all(X, k: int = 20, *, lid_k: int | None = None, precision: str = "float32",
                 discard_fraction: float = 0.1, rel_tol: float = DUPLICATE_REL_TOL,
                 what: str = "vectors") -> tuple[dict, np.ndarray, KNNResult]:
    """Every global estimate from ONE kNN search (k = max(k, lid_k)), plus per-input-row Amsaleg LID.

    Returns (scores, lid_per_input_row, knn_result).
    """
    lid_k = lid_k or k
    if min(k, lid_k) < 3:
        raise HarnessError(f"k must be >= 3 for MLE/LID, got k={k}, lid_k={lid_k}")
    res = knn(X, max(k, lid_k), precision=precision, rel_tol=rel_tol, what=what)
    s = log_ratio_sums(res, k)
    with np.errstate(divide="ignore"):
        lb = (k - 1) / s
        lb_unbiased = (k - 2) / s
    lid = lid_pointwise(res, lid_k, form="amsaleg")
    spectrum = pca_spectrum(np.asarray(X)[res.keep])
    scores = {
        "mle": aggregate(lb, "harmonic"),
        "mle_mean": aggregate(lb, "mean"),
        "mle_median": aggregate(lb, "median"),
        "mle_unbiased": aggregate(lb_unbiased, "harmonic"),
        "lid_mean": float(np.mean(lid)),
        "lid_median": float(np.median(lid)),
        "twonn": twonn(res, discard_fraction=discard_fraction, method="linear"),
        "twonn_mle": twonn(res, discard_fraction=discard_fraction, method="mle"),
        "lpca_fo": lpca(ver="FO", spectrum=spectrum),
        "lpca_pr": lpca(ver="participation_ratio", spectrum=spectrum),
        "n_points": res.n_points,
        "n_duplicates": res.n_duplicates,
    }
    return scores, res.expand(lid), res
