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
  `paired_tests`: the same for several pairs of models on one task, each model resampled once;
- `holm`: Holm's step-down adjustment of a family of p-values;
- `intervals`: the `result["intervals"]` block the runner writes, one interval per declared score.

Resampling (harness/significance_engine.py) is vectorised and chunked (at most CHUNK_ELEMENTS values at a time,
so memory stays bounded): each chunk of resamples becomes a matrix of counts (how often each item is drawn),
and a statistic with a weighted form takes the counts directly (means: one matrix product; Pearson: five
weighted sums; Spearman: ranks by counting, harness/rank_resampling.py; V-measure: weighted contingency
tables, harness/contingency.py); any other statistic is recomputed on the resampled matrices. Every score of
`intervals` shares the resamples.
Statistic names and their fast paths: harness/item_statistics.py.
"""
from __future__ import annotations

from pathlib import Path
from statistics import NormalDist

import numpy as np

from .errors import DataError, HarnessError
from .item_statistics import STATISTICS, Statistic, statistic
from .significance_engine import (bootstrap_distributions, counts, jackknife, nan_safe, permutation_null,
                                  permutation_swaps, recentred, two_sided_p)

__all__ = ["DEFAULT_B", "DEFAULT_LEVEL", "DEFAULT_SEED", "STATISTICS", "statistic", "load_items", "select",
           "bootstrap_ci", "paired_test", "paired_tests", "holm", "intervals", "items_path", "checked_items",
           "counts", "bootstrap_distributions", "nan_safe", "jackknife", "recentred", "permutation_swaps",
           "permutation_null", "two_sided_p"]

DEFAULT_B = 2000          # resamples for the intervals written into results (recorded with each interval)
DEFAULT_LEVEL = 0.95
DEFAULT_SEED = 42      # the tasks' default seed; the runner passes each task's own
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
    pairs = [(nan_safe(stat, m), m) for m, stat in unique.values()]
    thetas = bootstrap_distributions(pairs, n, B, seed)
    blocks = {}
    for (key, (m, stat)), (safe, _), theta_b in zip(unique.items(), pairs, thetas):
        theta_hat = stat(m)
        theta_b, bias = recentred(stat, theta_hat, theta_b)
        jack = jackknife(safe, m) if n >= 2 else None
        blocks[key] = _interval_block(theta_hat, theta_b, jack, level=level, B=B, seed=seed, n=n)
        blocks[key]["estimate"] = None if not np.isfinite(theta_hat) else float(theta_hat)
        if bias is not None:
            blocks[key].update(recentred=True, bias=bias)
    return {score: dict(blocks[key]) for score, key in same.items()}


def paired_test(items_a, items_b, score_decl: dict, *, method: str = "permutation", B: int = DEFAULT_B,
                seed: int = DEFAULT_SEED, level: float = DEFAULT_LEVEL, columns: list[str] | None = None) -> dict:
    """Model a vs model b on the same items (rows aligned by position): {"difference" (a - b of the
    statistic), "low", "high" (its bootstrap interval, the same resamples for both models; BCa where
    defined), "p_value" (two-sided), "method", "B", "seed", "n_items", "level", "interval_method",
    "exact" (permutation: every permutation enumerated)}.

    method "permutation": p from swapping each item's two values at random (significance_engine's
    permutation_null);
    method "bootstrap": p = 2 * min(P(d* <= 0), P(d* >= 0)) over the paired bootstrap differences d*,
    each count + 1 over B + 1 (0 outside the (1 - p) percentile interval of the difference). A statistic
    whose items cannot be swapped between models (`permutable` False: V-measure, whose cluster ids belong
    to one clustering) is always tested by the bootstrap, and "method" says so."""
    return paired_tests([items_a, items_b], score_decl, [(0, 1)], method=method, B=B, seed=seed, level=level,
                        columns=columns)[0]


def paired_tests(matrices: list, score_decl: dict, pairs: list[tuple[int, int]] | None = None, *,
                 method: str = "permutation", B: int = DEFAULT_B, seed: int = DEFAULT_SEED,
                 level: float = DEFAULT_LEVEL, columns: list[str] | None = None) -> list[dict]:
    """`paired_test(matrices[i], matrices[j])` for each (i, j) of `pairs` (default: every i < j), equal to
    those calls: every pair draws the same resamples (the same seed), so each model's bootstrap values and
    jackknife are computed once and a pair's are their differences."""
    if method not in ("permutation", "bootstrap"):
        raise HarnessError(f"paired_test method must be 'permutation' or 'bootstrap', got {method!r}")
    _check_b(B, level)
    if not matrices:
        return []
    prepared = [_prepared(x, score_decl, columns) for x in matrices]
    ms, stat = [m for m, _ in prepared], prepared[0][1]
    if pairs is None:
        pairs = [(i, j) for i in range(len(ms)) for j in range(i + 1, len(ms))]
    for i, j in pairs:
        if ms[i].shape != ms[j].shape:
            raise HarnessError(f"paired items differ in shape: {ms[i].shape} vs {ms[j].shape} (the same items, "
                               f"in the same order, for both models)")
    used = sorted({k for pair in pairs for k in pair})
    n = ms[used[0]].shape[0] if used else 0
    safe = {k: nan_safe(stat, ms[k]) for k in used}
    thetas = dict(zip(used, bootstrap_distributions([(safe[k], ms[k]) for k in used], n, B, seed)))
    jacks = {k: jackknife(safe[k], ms[k]) for k in used} if n >= 2 else {}
    values = {k: stat(ms[k]) for k in used}
    method = method if stat.permutable else "bootstrap"
    out, swaps = [], None
    for i, j in pairs:
        a, b = ms[i], ms[j]
        observed = float(values[i] - values[j])
        theta_b, _ = recentred(stat, observed, thetas[i] - thetas[j])
        jack = jacks[i] - jacks[j] if n >= 2 else None
        block = _interval_block(observed, theta_b, jack, level=level, B=B, seed=seed, n=n)
        exact = False
        if not np.isfinite(observed):
            p = None
        elif method == "permutation":
            swaps = swaps or permutation_swaps(n, B, seed)     # the same permutations for every pair
            null, n_perm, exact = permutation_null(stat, a, b, B, seed, swaps)
            p = two_sided_p(null, observed, n_perm, exact)
        else:
            finite = theta_b[np.isfinite(theta_b)]
            p = float(min(1.0, 2 * min(np.count_nonzero(finite <= 0) + 1, np.count_nonzero(finite >= 0) + 1)
                          / (len(finite) + 1)))
        out.append({"difference": observed if np.isfinite(observed) else None, "low": block["low"],
                    "high": block["high"], "p_value": p, "method": method, "B": int(B), "seed": int(seed),
                    "n_items": int(n), "level": level, "interval_method": block["method"], "exact": exact})
    return out


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
