"""Bias metrics for embeddings: WEAT/SEAT, direct bias (Bolukbasi) and RIPA. Pure numpy, float64.

Conventions (methods.md §4):
- WEAT (Caliskan et al. 2017): s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b); statistic
  sum_X s - sum_Y s; effect size (mean_X s - mean_Y s) / std_{X∪Y} s with `ddof` (default 1, as
  Caliskan, cbn and sent-bias; WEFE 1.0.1 uses ddof=0). Positive d: X is closer to A than Y is.
- Permutation p-value (sent-bias conventions): exact enumeration of all equal-size partitions of
  X ∪ Y when C(2n, n) <= n_samples, else Monte-Carlo with `n_samples` partitions in total, counting
  the observed one as a success (p = (1 + #{>=}) / n_samples). Ties (within floating-point
  summation error) count as successes. Only Σ_{X_i} s is compared: Σ_{X∪Y} s is constant.
- Direct bias: g = first principal component of the centred definitional-pair vectors (unit
  vectors); DirectBias_c = mean_{w in N} |cos(w, g)|^c.
- RIPA (Ethayarajh et al. 2019): beta(w; b) = <w, b>, b = (x - y)/||x - y||, w NOT normalised.

Why the sampler looks unusual: for |X ∪ Y| <= 64 a partition is a 64-bit mask. Uniform random
masks (raw generator output) with exactly n bits set are uniform random equal-size partitions, and
their sums come from 8 byte-indexed lookup tables. 100,000 samples take milliseconds instead of
the ~0.3 s of a row-wise shuffle.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from itertools import combinations

import numpy as np

from harness.errors import HarnessError
from harness.vectors import unit_rows as _unit_rows

ALTERNATIVES = ("greater", "less", "two-sided")
TRUNCATE = (None, "random", "first")
DEFAULT_N_SAMPLES = 100_000   # sent-bias default
DEFAULT_SEED = 1111           # sent-bias default (--seed 1111)
MAX_LOST_FRACTION = 0.2       # WEFE's lost_vocabulary_threshold


class BiasWarning(UserWarning):
    """Something that makes a bias score less trustworthy (OOV words, zero spread, overlapping sets)."""


# --------------------------------------------------------------------------------------------- basics
def unit_rows(vectors, what: str = "vectors") -> np.ndarray:
    """float64 copy with every row scaled to unit length (harness.vectors); a zero or non-finite row is an error."""
    return _unit_rows(vectors, what, dtype=np.float64)


def association(W, A, B) -> np.ndarray:
    """s(w, A, B) for every row w of W (cosine, so the inputs need not be normalised)."""
    w, a, b = unit_rows(W, "targets"), unit_rows(A, "attribute A"), unit_rows(B, "attribute B")
    return (w @ a.T).mean(axis=1) - (w @ b.T).mean(axis=1)


def weat_statistic(s_x: np.ndarray, s_y: np.ndarray) -> float:
    return float(np.sum(s_x) - np.sum(s_y))


def weat_effect_size(s_x: np.ndarray, s_y: np.ndarray, ddof: int = 1) -> float:
    """(mean_X s - mean_Y s) / std_{X∪Y}(s, ddof); NaN (with a warning) when every s is equal."""
    s_x, s_y = np.asarray(s_x, np.float64), np.asarray(s_y, np.float64)
    std = float(np.std(np.concatenate([s_x, s_y]), ddof=ddof))
    if not std > 0:
        warnings.warn("WEAT effect size undefined: every association s(w, A, B) is equal (std 0)", BiasWarning,
                      stacklevel=2)
        return float("nan")
    return float((s_x.mean() - s_y.mean()) / std)


# ------------------------------------------------------------------------------------ permutation test
@dataclass
class PValue:
    p_value: float
    method: str          # "exact" | "monte-carlo"
    n_partitions: int    # C(2n, n) (exact count; may be huge)
    n_evaluated: int     # partitions compared (exact: all; MC: n_samples including the observed one)
    n_ties: int          # other partitions counted as successes only because of a tie
    p_value_parametric: float | None = None


def permutation_p_value(s_x, s_y, *, n_samples: int = DEFAULT_N_SAMPLES, alternative: str = "greater",
                        seed: int | None = DEFAULT_SEED, parametric: bool = False) -> PValue:
    """One- or two-sided permutation p-value of the WEAT statistic over equal-size partitions.

    greater: Pr[stat_i >= stat]; less: Pr[stat_i <= stat]; two-sided: Pr[|stat_i - E0| >= |stat - E0|]
    (E0 = 0, the null mean of the statistic). Exact when C(2n, n) <= n_samples, else Monte-Carlo
    with the observed partition counted once (sent-bias). `parametric=True` also fits a normal to
    the null statistics (exact or sampled) and reports its tail probability (sent-bias --parametric).
    """
    if alternative not in ALTERNATIVES:
        raise HarnessError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    s_x, s_y = np.asarray(s_x, np.float64), np.asarray(s_y, np.float64)
    n = len(s_x)
    if len(s_y) != n:
        raise HarnessError(f"the permutation test needs |X| == |Y| (got {len(s_x)} and {len(s_y)})")
    if n < 2:
        raise HarnessError(f"the permutation test needs at least 2 words per target set (got {n})")
    if n_samples < 2:
        raise HarnessError(f"n_samples must be at least 2 (got {n_samples})")
    s = np.concatenate([s_x, s_y])
    m = 2 * n
    total = math.comb(m, n)
    # Ties: two partitions with equal real sums may differ by summation rounding; treat differences
    # below that bound as equal (the conservative choice, as sent-bias counts `==` as a success).
    tol = 4 * m * np.finfo(np.float64).eps * float(np.abs(s).sum())
    tables = _byte_tables(s) if m <= 64 else None
    # The observed Σ_X s is summed the same way as the partitions' sums (its own tie is then exact).
    observed = (_mask_sums(np.array([(1 << n) - 1], dtype=np.uint64), tables)[0] if tables is not None
                else float(s[:n].sum()))
    half_total = float(s.sum()) / 2  # E0 of Σ_{X_i} s
    if total <= n_samples:
        sums = _exact_subset_sums(s, n, tables)
        hits, ties = _count(sums, observed, half_total, tol, alternative)
        pv = PValue(hits / total, "exact", total, total, ties - 1)  # the observed partition is no tie
    else:
        rng = np.random.default_rng(seed)
        sums = _random_subset_sums(s, n, n_samples - 1, rng, tables)
        hits, ties = _count(sums, observed, half_total, tol, alternative)
        pv = PValue((1 + hits) / n_samples, "monte-carlo", total, n_samples, ties)
    if parametric:  # sent-bias's optional mode: a normal fitted to the null statistics (ddof 1)
        pv.p_value_parametric = _normal_p_value(2 * sums - 2 * half_total, 2 * observed - 2 * half_total,
                                                alternative)
    return pv


def _normal_p_value(null_stats: np.ndarray, stat: float, alternative: str) -> float:
    from scipy.stats import norm
    mean, sd = float(null_stats.mean()), float(null_stats.std(ddof=1))
    if not sd > 0:
        return float("nan")
    if alternative == "greater":
        return float(norm.sf(stat, mean, sd))
    if alternative == "less":
        return float(norm.cdf(stat, mean, sd))
    return float(2 * norm.sf(abs(stat - mean), 0.0, sd))


def _count(sums: np.ndarray, observed: float, centre: float, tol: float, alternative: str) -> tuple[int, int]:
    if alternative == "greater":
        strict, loose = sums > observed + tol, sums >= observed - tol
    elif alternative == "less":
        strict, loose = sums < observed - tol, sums <= observed + tol
    else:
        dev, obs = np.abs(sums - centre), abs(observed - centre)
        strict, loose = dev > obs + tol, dev >= obs - tol
    hits = int(np.count_nonzero(loose))
    return hits, hits - int(np.count_nonzero(strict))


def _byte_tables(s: np.ndarray) -> np.ndarray:
    """tables[k, b] = sum of s[8k + i] over the set bits i of byte value b (zero-padded to 64 items)."""
    padded = np.zeros(64)
    padded[: len(s)] = s
    bits = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(np.float64)  # (256, 8)
    return np.stack([bits @ padded[8 * k: 8 * k + 8] for k in range(8)])      # (8, 256)


def _mask_sums(masks: np.ndarray, tables: np.ndarray) -> np.ndarray:
    out = np.zeros(len(masks))
    for k in range(8):
        byte = ((masks >> np.uint64(8 * k)) & np.uint64(0xFF)).astype(np.intp)
        out += tables[k][byte]
    return out


@lru_cache(maxsize=16)
def _balanced_masks(m: int, n: int) -> np.ndarray:
    """Every m-bit mask with exactly n bits set (m <= 20: 2^m candidates filtered by popcount)."""
    cand = np.arange(1 << m, dtype=np.uint64)
    return cand[np.bitwise_count(cand) == n]


def _exact_subset_sums(s: np.ndarray, n: int, tables) -> np.ndarray:
    m = len(s)
    if tables is not None and m <= 20:
        return _mask_sums(_balanced_masks(m, n), tables)
    # Rare (exact test with n_samples > C(22, 11)): enumerate index combinations in chunks.
    out, chunk = [], 1 << 16
    it = combinations(range(m), n)
    while True:
        block = np.fromiter((i for c in _take(it, chunk) for i in c), dtype=np.intp)
        if not block.size:
            break
        out.append(s[block.reshape(-1, n)].sum(axis=1))
    return np.concatenate(out)


def _take(it, k):
    for _ in range(k):
        try:
            yield next(it)
        except StopIteration:
            return


def _random_subset_sums(s: np.ndarray, n: int, draws: int, rng: np.random.Generator, tables) -> np.ndarray:
    """Σ_{X_i} s for `draws` uniform random n-subsets of the 2n items."""
    m = len(s)
    if tables is not None:  # rejection sampling of uniform m-bit masks with popcount n
        accept = math.comb(m, n) / 2.0 ** m
        low = np.uint64((1 << m) - 1) if m < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
        parts, have = [], 0
        while have < draws:
            want = int((draws - have) / accept * 1.1) + 64
            masks = rng.bit_generator.random_raw(want) & low
            masks = masks[np.bitwise_count(masks) == n][: draws - have]
            parts.append(masks)
            have += len(masks)
        return _mask_sums(np.concatenate(parts), tables)
    # m > 64 (sentence sets): Knuth's selection sampling (Algorithm S): item j joins X_i with
    # probability (still needed) / (items left), one column of all rows at a time.
    out = np.empty(draws)
    chunk = min(draws, 1 << 17)
    for start in range(0, draws, chunk):
        k = min(chunk, draws - start)
        needed = np.full(k, n, dtype=np.float32)
        acc = np.zeros(k)
        take, u, tmp = np.empty(k, dtype=bool), np.empty(k, dtype=np.float32), np.empty(k)
        for j in range(m):  # branch-free arithmetic: ufuncs with where= are ~10x slower here
            rng.random(out=u, dtype=np.float32)
            u *= np.float32(m - j)
            np.less(u, needed, out=take)
            np.multiply(take, s[j], out=tmp)
            acc += tmp
            needed -= take
        out[start:start + k] = acc
    return out


# ----------------------------------------------------------------------------------------------- WEAT
@dataclass
class WeatResult:
    statistic: float
    effect_size: float
    p_value: float | None
    ddof: int
    alternative: str
    p_method: str | None
    n_partitions: int | None
    n_evaluated: int | None
    n_ties: int | None
    n_x: int
    n_y: int
    n_a: int
    n_b: int
    seed: int | None
    truncated: dict | None = None
    p_value_parametric: float | None = None
    s_x: np.ndarray = field(default=None, repr=False)
    s_y: np.ndarray = field(default=None, repr=False)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("s_x"), d.pop("s_y")
        if d["n_partitions"] is not None and d["n_partitions"] > 2 ** 53:  # C(2n, n) can be astronomically large
            try:
                d["n_partitions"] = float(d["n_partitions"])
            except OverflowError:
                d["n_partitions"] = float("inf")
        return d


def truncate_pair(X, Y, how: str | None, seed: int | None = DEFAULT_SEED):
    """Make |X| == |Y|: None raises, "first" keeps the first k rows, "random" keeps k at random (order kept)."""
    X, Y = np.asarray(X), np.asarray(Y)
    if len(X) == len(Y):
        return X, Y, None
    if how not in TRUNCATE:
        raise HarnessError(f"truncate must be one of {TRUNCATE}, got {how!r}")
    if how is None:
        raise HarnessError(f"WEAT needs equal-size target sets (|X| = {len(X)}, |Y| = {len(Y)}); "
                           "pass truncate='random' or 'first' to cut the larger one")
    k = min(len(X), len(Y))
    info = {"how": how, "from": [len(X), len(Y)], "to": k}
    if how == "first":
        return X[:k], Y[:k], info
    rng = np.random.default_rng(seed)
    keep = lambda V: V[np.sort(rng.choice(len(V), size=k, replace=False))]  # noqa: E731
    return keep(X), keep(Y), info


def weat(X, Y, A, B, *, ddof: int = 1, n_samples: int = DEFAULT_N_SAMPLES, alternative: str = "greater",
         seed: int | None = DEFAULT_SEED, truncate: str | None = None, p_value: bool = True,
         parametric: bool = False) -> WeatResult:
    """WEAT/SEAT on vectors: statistic, effect size (ddof labelled) and permutation p-value."""
    X, Y, info = truncate_pair(X, Y, truncate, seed)
    for name, V, least in (("X", X, 2), ("Y", Y, 2), ("A", A, 1), ("B", B, 1)):
        if len(V) < least:
            raise HarnessError(f"WEAT set {name} has {len(V)} word(s); at least {least} needed")
    s_x, s_y = association(X, A, B), association(Y, A, B)
    pv = (permutation_p_value(s_x, s_y, n_samples=n_samples, alternative=alternative, seed=seed, parametric=parametric)
          if p_value else None)
    return WeatResult(statistic=weat_statistic(s_x, s_y), effect_size=weat_effect_size(s_x, s_y, ddof),
                      p_value=pv.p_value if pv else None, ddof=ddof, alternative=alternative,
                      p_method=pv.method if pv else None, n_partitions=pv.n_partitions if pv else None,
                      n_evaluated=pv.n_evaluated if pv else None, n_ties=pv.n_ties if pv else None,
                      n_x=len(X), n_y=len(Y), n_a=len(A), n_b=len(B), seed=seed, truncated=info,
                      p_value_parametric=pv.p_value_parametric if pv else None, s_x=s_x, s_y=s_y)


def drop_oov(words: list[str], found, *, max_lost: float = MAX_LOST_FRACTION, what: str = "set") -> dict:
    """Which words of a set to keep. Returns {keep: bool mask, lost: [...], n_lost, fraction_lost,
    reason}; `reason` is set (and the set unusable) when more than `max_lost` of it is missing."""
    found = np.asarray(found, dtype=bool)
    lost = [w for w, f in zip(words, found) if not f]
    frac = len(lost) / len(words) if words else 1.0
    reason = None
    if frac > max_lost:
        reason = (f"{what}: {len(lost)} of {len(words)} words out of vocabulary ({frac:.0%} > "
                  f"{max_lost:.0%}), e.g. {', '.join(lost[:5])}")
    elif lost:
        warnings.warn(f"{what}: dropped {len(lost)} out-of-vocabulary word(s): {', '.join(lost[:10])}", BiasWarning,
                      stacklevel=2)
    return {"keep": found, "lost": lost, "n_lost": len(lost), "fraction_lost": frac, "reason": reason}


# ----------------------------------------------------------------------------------------- direct bias
def gender_direction(pairs_a, pairs_b, *, n_components: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Bolukbasi's g: PCA over rows (a - μ), (b - μ) of the unit pair vectors, μ = (a + b)/2.

    Returns (g, explained-variance ratios of the first min(n_components, ...) components). g is
    oriented so that the first word of each pair projects higher on average (debiaswe lists the
    female word first, so she - he > 0).
    """
    a, b = unit_rows(pairs_a, "pair words (first)"), unit_rows(pairs_b, "pair words (second)")
    if len(a) != len(b):
        raise HarnessError(f"definitional pairs: {len(a)} first words but {len(b)} second words")
    if len(a) < 2:
        raise HarnessError(f"direct bias needs at least 2 definitional pairs in the vocabulary (got {len(a)})")
    mu = (a + b) / 2
    rows = np.concatenate([a - mu, b - mu])
    rows -= rows.mean(axis=0)  # PCA centring (a no-op here: each pair's rows sum to zero)
    _, sv, vt = np.linalg.svd(rows, full_matrices=False)
    var = sv ** 2
    ratios = var / var.sum()
    g = vt[0] / np.linalg.norm(vt[0])
    if float(((a - b) @ g).mean()) < 0:
        g = -g
    return g, ratios[: min(n_components, len(ratios))]


def projections(W, g) -> np.ndarray:
    """cos(w, g) for every row w."""
    return unit_rows(W, "neutral words") @ (np.asarray(g, np.float64) / np.linalg.norm(g))


def direct_bias(W, g, c: float = 1.0) -> float:
    """DirectBias_c = mean |cos(w, g)|^c over the (gender-neutral) words W."""
    if len(W) == 0:
        raise HarnessError("direct bias needs at least one neutral word in the vocabulary")
    return float(np.mean(np.abs(projections(W, g)) ** c))


# ------------------------------------------------------------------------------------------------ RIPA
def relation_vector(x, y) -> np.ndarray:
    d = np.asarray(x, np.float64) - np.asarray(y, np.float64)
    norm = np.linalg.norm(d)
    if norm == 0:
        raise HarnessError("RIPA: the two words of a pair have the same vector")
    return d / norm


def ripa(W, pairs_x, pairs_y) -> dict:
    """beta(w; b_k) = <w, b_k> for every word w (not normalised) and pair k.

    Returns {betas (n_words, n_pairs), mean, std (ddof 0, across pairs), result (mean over words of
    the per-word mean, WEFE's `result`)}. With one pair, mean == betas[:, 0] and std == 0.
    """
    W = np.asarray(W, np.float64)
    px, py = np.asarray(pairs_x, np.float64), np.asarray(pairs_y, np.float64)
    if px.ndim == 1:
        px, py = px[None], py[None]
    if len(px) != len(py) or len(px) == 0:
        raise HarnessError(f"RIPA needs one or more (x, y) pairs (got {len(px)} x and {len(py)} y vectors)")
    B = np.stack([relation_vector(x, y) for x, y in zip(px, py)])
    betas = W @ B.T
    mean = betas.mean(axis=1)
    return {"betas": betas, "mean": mean, "std": betas.std(axis=1), "result": float(mean.mean())}
