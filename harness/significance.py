"""Bootstrap confidence intervals and paired significance tests over per-item results.

A ranked task writes an `items` sidecar (`<result stem>.items.npy`: items x columns, float64) and declares,
per main score, the statistic that recomputes it from some of the columns (`declared.items`, see
tasks/base.py). Everything here works from that matrix and that declaration, with no knowledge of task types:

- `bootstrap_ci`: resample the items with replacement B times, recompute the statistic on each resample
  (Spearman on resampled pairs, mean nDCG on resampled queries, ...), and report the percentile interval
  and the BCa interval (bias correction from the bootstrap distribution, acceleration from the jackknife),
  exactly as `scipy.stats.bootstrap(..., paired=True)` computes them: with the same seed the resamples are
  the same draws (`np.random.default_rng(seed).integers(0, n, (B, n))`), so the endpoints agree to rounding;
- `paired_test`: two models on the same items; the difference a - b of the statistic, its bootstrap interval
  (the same resamples for both models) and a two-sided p-value, from a paired permutation test (each item's
  two values swapped at random, as `scipy.stats.permutation_test(permutation_type="samples")`, the same
  permutations for the same seed, every one of the 2**n when B >= 2**n) or from the paired bootstrap;
- `holm`: Holm's step-down adjustment of a family of p-values;
- `intervals`: the `result["intervals"]` block the runner writes, one interval per declared score.

Resampling is vectorised and chunked (at most CHUNK_ELEMENTS values at a time, so memory stays bounded): each
chunk of resamples becomes a matrix of counts (how often each item is drawn), and a statistic with a weighted
form takes the counts directly (means: one matrix product; Pearson: five weighted sums; Spearman: ranks by
counting, harness/rank_resampling.py; V-measure: weighted contingency tables, harness/contingency.py); any
other statistic is recomputed on the resampled matrices. Every score of `intervals` shares the resamples.
Statistic names and their fast paths: harness/item_statistics.py.
"""
from __future__ import annotations

from pathlib import Path
from statistics import NormalDist

import numpy as np

from .errors import DataError, HarnessError
from .item_statistics import STATISTICS, Statistic, complete_rows, statistic

__all__ = ["DEFAULT_B", "DEFAULT_LEVEL", "DEFAULT_SEED", "STATISTICS", "statistic", "load_items", "select",
           "bootstrap_ci", "paired_test", "holm", "intervals", "items_path", "checked_items"]

DEFAULT_B = 2000          # resamples for the intervals written into results (recorded with each interval)
DEFAULT_LEVEL = 0.95
DEFAULT_SEED = 42      # the tasks' default seed; the runner passes each task's own
CHUNK_ELEMENTS = 1 << 20  # values per resampled chunk (8 MiB of float64: counts stay in cache)
_NORMAL = NormalDist()


# -- items sidecars ------------------------------------------------------------------------------------
def items_path(result_path) -> Path:
    p = Path(result_path)
    return p.with_name(p.stem + ".items.npy")


def load_items(result_path, result: dict) -> np.ndarray | None:
    """The `items` sidecar of a result file, checked against its `declared.items`; None when the result
    declares no per-item data or its sidecar is absent (results written before items existed)."""
    declared = ((result or {}).get("declared") or {}).get("items")
    path = items_path(result_path)
    if not declared or not path.is_file():
        return None
    from .io import load_npy
    arr = load_npy(path, "items sidecar")
    columns = declared.get("columns") or []
    if arr.ndim != 2 or arr.shape[1] != len(columns):
        raise DataError(f"items sidecar has shape {arr.shape}, but declared.items.columns of "
                        f"{Path(result_path).name} names {len(columns)} column(s): {columns}", path)
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"items sidecar is not numeric (dtype {arr.dtype})", path)
    return np.asarray(arr, dtype=np.float64)


def checked_items(items, declared_items: dict, where: str) -> np.ndarray:
    """A task's `items` sidecar, checked against its `declared.items` before anything is written."""
    columns = list(declared_items.get("columns") or [])
    if items is None:
        raise HarnessError(f"{where} declares per-item scores ({', '.join(declared_items.get('scores') or {})}) "
                           f"but wrote no 'items' sidecar")
    arr = np.asarray(items)
    if arr.ndim != 2 or arr.shape[1] != len(columns) or arr.shape[0] < 1:
        raise HarnessError(f"{where}: its items sidecar has shape {arr.shape}; declared.items.columns names "
                           f"{len(columns)} column(s): {columns}")
    return np.asarray(arr, dtype=np.float64)


def select(items: np.ndarray, score_decl: dict, columns: list[str] | None = None) -> np.ndarray:
    """The columns of `items` a score is computed from. `columns`: the sidecar's column names (as in
    `declared.items.columns`); without it, `items` must already hold exactly the score's columns."""
    items = np.asarray(items, dtype=np.float64)
    if items.ndim != 2:
        raise HarnessError(f"items must be a 2-D matrix (items x columns), got shape {items.shape}")
    want = list(score_decl.get("columns") or [])
    if columns is None:
        if items.shape[1] != len(want):
            raise HarnessError(f"items have {items.shape[1]} column(s) but the score declares {len(want)} "
                               f"({want}); pass the sidecar's column names as columns=")
        return items
    missing = [c for c in want if c not in columns]
    if missing:
        raise HarnessError(f"score columns {missing} are not in the items' columns {list(columns)}")
    if len(columns) != items.shape[1]:
        raise HarnessError(f"{len(columns)} column names for items with {items.shape[1]} columns")
    return items[:, [list(columns).index(c) for c in want]]


def _prepared(items, score_decl, columns) -> tuple[np.ndarray, Statistic]:
    if not isinstance(score_decl, dict) or "statistic" not in score_decl:
        raise HarnessError(f"a score declaration needs 'statistic' and 'columns', got {score_decl!r}")
    stat = statistic(score_decl["statistic"])
    m = select(items, score_decl, columns)
    stat.check_columns(m.shape[1])
    if m.shape[0] < 1:
        raise HarnessError("no items to resample")
    return m, stat


# -- resampling engine -------------------------------------------------------------------------------
def _index_chunks(n: int, B: int, seed: int, cols: int = 1):
    """(B, n) bootstrap indices in chunks of rows: the very draws scipy.stats.bootstrap makes with
    rng=default_rng(seed) (numpy's integer stream does not depend on how the rows are chunked)."""
    rng = np.random.default_rng(seed)
    rows = max(1, CHUNK_ELEMENTS // max(1, n * cols))
    for start in range(0, B, rows):
        yield rng.integers(0, n, (min(rows, B - start), n), dtype=np.int32 if n < 2 ** 31 else np.int64)


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """How many times each item is in each resample: (c, n) float64 counts from (c, n) indices."""
    c = idx.shape[0]
    flat = (idx + (np.arange(c) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=c * n).reshape(c, n).astype(np.float64)


def _bootstrap_distributions(pairs: list[tuple[Statistic, np.ndarray]], n: int, B: int, seed: int) -> list:
    """The B bootstrap values of each (statistic, matrix) over the same resamples of the n items (counts
    computed once per chunk for every statistic that takes them)."""
    cols = max([m.shape[1] for stat, m in pairs if stat.weighted is None] or [1])
    out: list[list] = [[] for _ in pairs]
    for idx in _index_chunks(n, B, seed, cols):
        counts = _counts(idx, n) if any(stat.weighted is not None for stat, _ in pairs) else None
        for k, (stat, m) in enumerate(pairs):
            out[k].append(stat.weighted(m, counts) if stat.weighted is not None else stat.fn(m[idx]))
    return [np.concatenate(parts) for parts in out]


def _nan_safe(stat: Statistic, m: np.ndarray) -> Statistic:
    """`stat` with fast paths that leave out m's incomplete items (zero weight in every resample; left out,
    they leave the statistic unchanged in the jackknife). These closures ignore the matrix they are given."""
    ok = complete_rows(m)
    if ok.all():
        return stat
    m0, full = np.where(ok[:, None], m, 0.0), stat(m)

    def weighted(_, w):
        return stat.weighted(m0, w * ok)

    def jackknife(_):
        out = np.full(len(m), full)
        out[ok] = _jackknife(stat, m[ok])
        return out

    return Statistic(stat.name, stat.fn, stat.n_columns, weighted=weighted if stat.weighted else None,
                     jackknife=jackknife)


def _jackknife(stat: Statistic, m: np.ndarray) -> np.ndarray:
    """The statistic with each item left out in turn (n values)."""
    if stat.jackknife is not None:
        return stat.jackknife(m)
    n = m.shape[0]
    if stat.weighted is not None:   # leave-one-out sets as weights: all ones but one zero
        rows, out = max(1, CHUNK_ELEMENTS // n), []
        for i in range(0, n, rows):
            w = np.ones((min(rows, n - i), n))
            w[np.arange(len(w)), i + np.arange(len(w))] = 0.0
            out.append(stat.weighted(m, w))
        return np.concatenate(out)
    j = np.arange(n - 1)
    rows = max(1, CHUNK_ELEMENTS // max(1, (n - 1) * m.shape[1]))
    out = []
    for i0 in range(0, n, rows):
        left_out = np.arange(i0, min(n, i0 + rows))[:, None]
        out.append(stat.fn(m[j[None, :] + (j[None, :] >= left_out)]))
    return np.concatenate(out)


def _ndtri(p: float) -> float:
    return -np.inf if p <= 0 else np.inf if p >= 1 else _NORMAL.inv_cdf(p)


def _bca_levels(theta_hat: float, theta_b: np.ndarray, jack: np.ndarray, alpha: float) -> tuple[float, float]:
    """BCa's two quantile levels (Efron & Tibshirani eq. 14.10 / 15.36), scipy's _bca_interval step by step."""
    # resamples equal to the estimate count half (scipy's _percentile_of_score); "equal" up to rounding, so
    # that a resampled accuracy equal to the reported one is not split by the order of a float sum
    tol = 1e-12 * max(1.0, abs(theta_hat))
    below, level_with = np.count_nonzero(theta_b < theta_hat - tol), np.count_nonzero(theta_b <= theta_hat + tol)
    percentile = (below + level_with) / (2 * len(theta_b))
    z0 = _ndtri(percentile)
    u = (len(jack) - 1) * (jack.mean() - jack)
    n = float(len(jack))
    with np.errstate(invalid="ignore", divide="ignore"):
        a_hat = (1 / 6) * ((u ** 3).sum() / n ** 3) / ((u ** 2).sum() / n ** 2) ** 1.5
    z_alpha = _ndtri(alpha)
    levels = []
    for z in (z_alpha, -z_alpha):
        num = z0 + z
        with np.errstate(invalid="ignore", divide="ignore"):
            x = z0 + num / (1 - a_hat * num)
        levels.append(float("nan") if np.isnan(x) else _NORMAL.cdf(x) if np.isfinite(x) else float(x > 0))
    return levels[0], levels[1]


def _quantiles(theta_b: np.ndarray, levels) -> list[float | None]:
    if any(not np.isfinite(q) for q in levels) or not np.all(np.isfinite(theta_b)):
        return [None, None]
    return [float(x) for x in np.quantile(theta_b, levels)]


def _recentred(stat: Statistic, theta_hat, theta_b: np.ndarray) -> tuple[np.ndarray, float | None]:
    """(the bootstrap distribution, shifted to centre on the estimate where the statistic asks for it; the
    shift removed, else None)."""
    finite = theta_b[np.isfinite(theta_b)]
    if not stat.recentre or not len(finite) or not np.isfinite(theta_hat):
        return theta_b, None
    bias = float(finite.mean() - theta_hat)
    return theta_b - bias, bias


def _interval_block(theta_hat, theta_b, jack, *, level, B, seed, n) -> dict:
    alpha = (1 - level) / 2
    pct = _quantiles(theta_b, (alpha, 1 - alpha))
    bca = _quantiles(theta_b, _bca_levels(theta_hat, theta_b, jack, alpha)) if jack is not None else [None, None]
    method = "BCa" if None not in bca else "percentile"
    low, high = bca if method == "BCa" else pct
    return {"low": low, "high": high, "level": level, "method": method, "percentile": pct, "bca": bca,
            "B": int(B), "seed": int(seed), "n_items": int(n)}


def _check_b(B, level):
    if not isinstance(B, (int, np.integer)) or B < 1:
        raise HarnessError(f"B (bootstrap resamples) must be a positive integer, got {B!r}")
    if not 0 < level < 1:
        raise HarnessError(f"level must be between 0 and 1, got {level!r}")


# -- public API --------------------------------------------------------------------------------------
def bootstrap_ci(items, score_decl: dict, *, B: int = DEFAULT_B, seed: int = DEFAULT_SEED, level: float = DEFAULT_LEVEL,
                 columns: list[str] | None = None) -> dict:
    """The bootstrap interval of one score: {"low", "high", "level", "method", "percentile": [lo, hi],
    "bca": [lo, hi], "B", "seed", "n_items", "estimate"}. low/high are BCa's, or the percentile interval's
    (method "percentile") where BCa is undefined (a degenerate bootstrap distribution, fewer than 3 items);
    endpoints that cannot be computed are None (NaN statistics)."""
    return intervals(select(items, score_decl, columns), {"columns": list(score_decl.get("columns") or []),
                     "scores": {"score": score_decl}}, B=B, seed=seed, level=level)["score"]


def intervals(items, declared_items: dict, *, B: int = DEFAULT_B, seed: int = DEFAULT_SEED,
              level: float = DEFAULT_LEVEL) -> dict:
    """`result["intervals"]`: one `bootstrap_ci` block per score of `declared.items.scores`
    ({"columns": [...], "scores": {score: {"statistic", "columns"}}}), every score over the same resamples."""
    _check_b(B, level)
    cols = list(declared_items.get("columns") or [])
    decls = declared_items.get("scores") or {}
    prepared = {score: _prepared(items, decl, cols) for score, decl in decls.items()}
    if not prepared:
        return {}
    n = next(iter(prepared.values()))[0].shape[0]
    # scores declared alike (STS "spearman" is "cosine_spearman") are computed once
    same = {score: (decl["statistic"], tuple(decl["columns"])) for score, decl in decls.items()}
    unique = {key: prepared[score] for score, key in reversed(list(same.items()))}
    pairs = [(_nan_safe(stat, m), m) for m, stat in unique.values()]
    thetas = _bootstrap_distributions(pairs, n, B, seed)
    blocks = {}
    for (key, (m, stat)), (safe, _), theta_b in zip(unique.items(), pairs, thetas):
        theta_hat = stat(m)
        theta_b, bias = _recentred(stat, theta_hat, theta_b)
        jack = _jackknife(safe, m) if n >= 2 else None
        blocks[key] = _interval_block(theta_hat, theta_b, jack, level=level, B=B, seed=seed, n=n)
        blocks[key]["estimate"] = None if not np.isfinite(theta_hat) else float(theta_hat)
        if bias is not None:
            blocks[key].update(recentred=True, bias=bias)
    return {score: dict(blocks[key]) for score, key in same.items()}


def _difference(stat: Statistic, a: np.ndarray, b: np.ndarray) -> Statistic:
    """stat(a) - stat(b) as one statistic of the matrix [a | b] (columns side by side), with the fast paths
    of each side."""
    k = a.shape[1]
    sa, sb = _nan_safe(stat, a), _nan_safe(stat, b)

    def both(fa, fb):
        return None if fa is None or fb is None else (lambda m, *w: fa(m[:, :k], *w) - fb(m[:, k:], *w))
    return Statistic(f"{stat.name} difference", lambda m: stat.fn(m[..., :k]) - stat.fn(m[..., k:]), None,
                     weighted=both(sa.weighted, sb.weighted), jackknife=both(sa.jackknife or _generic(sa),
                                                                             sb.jackknife or _generic(sb)))


def _generic(stat: Statistic):
    return lambda m: _jackknife(stat, m)


def _permutation_null(stat: Statistic, a, b, B: int, seed: int):
    """(null distribution, number of permutations, exact) of stat(a') - stat(b'), each item's rows swapped
    between a and b with probability 1/2: scipy.stats.permutation_test(permutation_type="samples")'s
    permutations for rng=default_rng(seed) (its rng.permuted of [0, 1] per item draws one uint32 per item
    and swaps when the lowest bit is 0), or all 2**n of them when B >= 2**n, as scipy does."""
    n = a.shape[0]
    if n < 63 and B >= 2 ** n:
        swap = ((np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)
        exact = True
    else:
        bits = np.random.default_rng(seed).integers(0, 2 ** 32, size=(B, n), dtype=np.uint32)
        swap, exact = (bits & 1) == 0, False
    rows = max(1, CHUNK_ELEMENTS // max(1, 2 * n * a.shape[1]))
    null = []
    for i in range(0, len(swap), rows):
        s = swap[i:i + rows]
        if stat.permuted is not None and complete_rows(a).all() and complete_rows(b).all():
            null.append(stat.permuted(a, b, s))
        else:
            null.append(stat.fn(np.where(s[..., None], b, a)) - stat.fn(np.where(s[..., None], a, b)))
    return np.concatenate(null), len(swap), exact


def _two_sided_p(null: np.ndarray, observed: float, n_perm: int, exact: bool) -> float:
    """scipy.stats.permutation_test's two-sided p-value (its tolerance for ties and its +1 adjustment)."""
    adjustment = 0 if exact else 1
    gamma = abs(np.finfo(np.float64).eps * 100 * observed)
    less = (np.count_nonzero(null <= observed + gamma) + adjustment) / (n_perm + adjustment)
    greater = (np.count_nonzero(null >= observed - gamma) + adjustment) / (n_perm + adjustment)
    return float(min(1.0, max(0.0, 2 * min(less, greater))))


def paired_test(items_a, items_b, score_decl: dict, *, method: str = "permutation", B: int = DEFAULT_B,
                seed: int = DEFAULT_SEED, level: float = DEFAULT_LEVEL, columns: list[str] | None = None) -> dict:
    """Model a vs model b on the same items (rows aligned by position): {"difference" (a - b of the
    statistic), "low", "high" (its bootstrap interval, the same resamples for both models; BCa where
    defined), "p_value" (two-sided), "method", "B", "seed", "n_items", "level", "interval_method",
    "exact" (permutation: every permutation enumerated)}.

    method "permutation": p from swapping each item's two values at random (see _permutation_null);
    method "bootstrap": p = 2 * min(P(d* <= 0), P(d* >= 0)) over the paired bootstrap differences d*,
    each count + 1 over B + 1 (0 outside the (1 - p) percentile interval of the difference). A statistic
    whose items cannot be swapped between models (`permutable` False: V-measure, whose cluster ids belong
    to one clustering) is always tested by the bootstrap, and "method" says so."""
    if method not in ("permutation", "bootstrap"):
        raise HarnessError(f"paired_test method must be 'permutation' or 'bootstrap', got {method!r}")
    _check_b(B, level)
    a, stat = _prepared(items_a, score_decl, columns)
    b, _ = _prepared(items_b, score_decl, columns)
    if a.shape != b.shape:
        raise HarnessError(f"paired items differ in shape: {a.shape} vs {b.shape} (the same items, in the "
                           f"same order, for both models)")
    n = a.shape[0]
    method = method if stat.permutable else "bootstrap"
    both = np.concatenate([a, b], axis=1)
    diff_stat = _difference(stat, a, b)
    observed = float(stat(a) - stat(b))
    theta_b, _ = _recentred(stat, observed, _bootstrap_distributions([(diff_stat, both)], n, B, seed)[0])
    jack = _jackknife(diff_stat, both) if n >= 2 else None
    block = _interval_block(observed, theta_b, jack, level=level, B=B, seed=seed, n=n)
    exact = False
    if not np.isfinite(observed):
        p = None
    elif method == "permutation":
        null, n_perm, exact = _permutation_null(stat, a, b, B, seed)
        p = _two_sided_p(null, observed, n_perm, exact)
    else:
        finite = theta_b[np.isfinite(theta_b)]
        p = float(min(1.0, 2 * min(np.count_nonzero(finite <= 0) + 1, np.count_nonzero(finite >= 0) + 1)
                      / (len(finite) + 1)))
    return {"difference": observed if np.isfinite(observed) else None, "low": block["low"], "high": block["high"],
            "p_value": p, "method": method, "B": int(B), "seed": int(seed), "n_items": int(n), "level": level,
            "interval_method": block["method"], "exact": exact}


def holm(p_values) -> list:
    """Holm's step-down adjusted p-values, in the input order (None / NaN entries stay None and do not
    count in the family)."""
    vals = [None if p is None or not np.isfinite(p) else float(p) for p in p_values]
    present = [i for i, p in enumerate(vals) if p is not None]
    m = len(present)
    out: list = [None] * len(vals)
    running = 0.0
    for rank, i in enumerate(sorted(present, key=lambda i: vals[i])):
        running = max(running, min(1.0, (m - rank) * vals[i]))
        out[i] = running
    return out
