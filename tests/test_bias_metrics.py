"""Bias metrics (tasks/metrics/bias.py) against methods.md §4 reference values, brute-force
reference implementations, and (when its isolated venv exists) WEFE 1.0.1 itself.

References: methods.md §4.1 table (cbn GloVe vectors: statistic, d ddof=1 = Caliskan/cbn, d ddof=0 =
WEFE 1.0.1, exact p of WEAT 6-10), §4.3 (direct bias on cbn GloVe), §4.4 (RIPA he-she), and
debiaswe/SOURCE.md (DirectBias_1 on the w2v subset, 0.0805 / 0.0731, PC1 0.6053).
"""
from __future__ import annotations

import json
import math
import subprocess
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from tasks.metrics import bias as B

REPO = Path(__file__).resolve().parent.parent

# methods.md §4.1: test -> (statistic, d ddof=1, d ddof=0 (WEFE 1.0.1))
WEAT_TABLE = {
    "WEAT1": (2.238165, 1.504315, 1.519588), "WEAT2": (2.290555, 1.533989, 1.549563),
    "WEAT3": (1.620779, 1.405208, 1.416316), "WEAT4": (0.727234, 1.498582, 1.522561),
    "WEAT5": (0.917709, 1.283930, 1.304474), "WEAT6": (1.266980, 1.813915, 1.873403),
    "WEAT7": (0.198923, 1.055015, 1.089615), "WEAT8": (0.345604, 1.237453, 1.278036),
    "WEAT9": (0.505122, 1.382755, 1.444240), "WEAT10": (0.380867, 1.212891, 1.252668),
}
# methods.md §4.1, exact one-sided p (printed to 3 significant digits)
EXACT_P = {"WEAT6": 7.77e-5, "WEAT7": 0.0157, "WEAT8": 0.00474, "WEAT9": 0.00433, "WEAT10": 0.00513}


@pytest.fixture(scope="module")
def cbn(data_root):
    """(vectors dict word -> float64 row, tests {name: {X/Y/A/B: (label, words)}})."""
    from tasks.weat import load_cbn_tests
    folder = data_root / "cbn_weat_glove"
    vecs = np.load(folder / "item_vectors.npy", allow_pickle=False)
    words = (folder / "item_vectors_words.txt").read_text(encoding="utf-8").splitlines()
    _, tests = load_cbn_tests(folder)
    return dict(zip(words, vecs)), tests


def sets_of(cbn, name):
    vec, tests = cbn
    return [np.stack([vec[w] for w in tests[name][r][1]]) for r in ("X", "Y", "A", "B")]


# ------------------------------------------------------------------------------------ WEAT on cbn
@pytest.mark.parametrize("name", list(WEAT_TABLE))
def test_weat_reproduces_caliskan_cbn_and_wefe(cbn, name):
    stat, d1, d0 = WEAT_TABLE[name]
    r1 = B.weat(*sets_of(cbn, name), p_value=False)
    r0 = B.weat(*sets_of(cbn, name), ddof=0, p_value=False)
    assert r1.ddof == 1 and r0.ddof == 0
    assert abs(r1.statistic - stat) < 1e-6
    assert abs(r1.effect_size - d1) < 1e-6
    assert abs(r0.effect_size - d0) < 1e-6
    # ddof 0 vs 1 differ by sqrt(N/(N-1)), N = |X|+|Y|
    n = r1.n_x + r1.n_y
    assert r0.effect_size / r1.effect_size == pytest.approx(math.sqrt(n / (n - 1)), rel=1e-12)


def brute_force_p(s_x, s_y) -> float:
    """Independent reference: enumerate every X_i, count Σ_{X_i} s >= Σ_X s (observed included)."""
    s = np.concatenate([s_x, s_y])
    obs = sum(s_x)
    hits = total = 0
    for idx in combinations(range(len(s)), len(s_x)):
        total += 1
        hits += sum(s[i] for i in idx) >= obs - 1e-12
    return hits / total


@pytest.mark.parametrize("name", list(EXACT_P))
def test_exact_p_values_weat6_to_10(cbn, name):
    r = B.weat(*sets_of(cbn, name))  # default n_samples = 100,000 >= C(16, 8) = 12,870: exact
    assert r.p_method == "exact" and r.n_partitions == math.comb(2 * r.n_x, r.n_x)
    assert abs(r.p_value - brute_force_p(r.s_x, r.s_y)) < 1e-9
    assert r.p_value == pytest.approx(EXACT_P[name], rel=5e-3)  # the table's 3 significant digits
    if name == "WEAT6":
        assert abs(r.p_value - 1 / 12870) < 1e-12   # only the observed partition
    if name == "WEAT9":
        assert r.n_partitions == 924


def test_monte_carlo_counts_the_observed_partition(cbn):
    r = B.weat(*sets_of(cbn, "WEAT1"))  # C(50, 25) >> 1e5: Monte-Carlo, nothing beats the observed
    assert r.p_method == "monte-carlo" and r.n_evaluated == 100_000
    assert r.p_value == 1e-5               # (1 + 0) / 100,000: the sent-bias +1 convention
    again = B.weat(*sets_of(cbn, "WEAT5"), seed=r.seed)
    assert again.p_value == B.weat(*sets_of(cbn, "WEAT5"), seed=r.seed).p_value  # seeded: reproducible


def test_monte_carlo_agrees_with_exact(cbn):
    r = B.weat(*sets_of(cbn, "WEAT7"))
    exact = r.p_value
    mc = B.permutation_p_value(r.s_x, r.s_y, n_samples=12_000, seed=3)  # 12,000 < 12,870: Monte-Carlo
    assert mc.method == "monte-carlo"
    se = math.sqrt(exact * (1 - exact) / 12_000)
    assert abs(mc.p_value - exact) < 4 * se


def test_100k_sample_p_value_is_fast(cbn):
    for name in ("WEAT1", "WEAT3"):  # the largest sets (2n = 50, 64)
        X, Y, A, Bs = sets_of(cbn, name)
        best = min(_timed(lambda: B.weat(X, Y, A, Bs)) for _ in range(3))
        assert best < 1.0, f"{name}: {best:.3f} s"  # goal 0.1 s (bench); generous here for shared CI cores


def _timed(fn):
    import time
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------- the samplers
def _chi2_uniform(counts: np.ndarray) -> float:
    from scipy.stats import chisquare
    return chisquare(counts).pvalue


@pytest.mark.parametrize("path", ["bitmask", "selection"])
def test_random_partitions_are_uniform(path):
    """s_i = 2^i makes each subset sum unique, so the sums identify the drawn partitions."""
    m, n, draws = 12, 6, 200_000
    s = 2.0 ** np.arange(m)
    rng = np.random.default_rng(7)
    tables = B._byte_tables(s) if path == "bitmask" else None  # None forces Knuth's Algorithm S
    sums = B._random_subset_sums(s, n, draws, rng, tables)
    keys = sums.astype(np.int64)
    assert all(bin(k).count("1") == n for k in np.unique(keys)[:50])
    _, counts = np.unique(keys, return_counts=True)
    assert len(counts) == math.comb(m, n)   # every partition seen
    assert _chi2_uniform(counts) > 1e-4     # seeded: deterministic, and far from the threshold


def test_exact_enumeration_paths_agree():
    """Bitmask enumeration (2n <= 20) and the chunked itertools path (used above 20) give the same sums."""
    s = np.random.default_rng(5).normal(size=20)
    by_mask = np.sort(B._exact_subset_sums(s, 10, B._byte_tables(s)))
    by_combinations = np.sort(B._exact_subset_sums(s, 10, None))
    assert len(by_mask) == len(by_combinations) == math.comb(20, 10)
    np.testing.assert_allclose(by_mask, by_combinations, atol=1e-12)
    big = B.weat(*(np.random.default_rng(k).normal(size=(600, 8)) for k in range(4)), n_samples=1000)
    assert big.as_dict()["n_partitions"] == float("inf")  # C(1200, 600) > 1.8e308: no OverflowError


def test_selection_sampler_moments_for_large_sets():
    """m > 64 (SEAT sentence sets): mean and variance of Σ_{X_i} s match the finite-population values."""
    rng = np.random.default_rng(0)
    s = rng.normal(size=150)
    m, n = 150, 75
    sums = B._random_subset_sums(s, n, 50_000, np.random.default_rng(1), None)
    mean = n * s.mean()
    var = n * (m - n) / (m * (m - 1)) * ((s - s.mean()) ** 2).sum()
    assert abs(sums.mean() - mean) < 5 * math.sqrt(var / len(sums))
    assert sums.var(ddof=1) == pytest.approx(var, rel=0.03)


# ------------------------------------------------------------------------------ alternatives, modes
def test_alternatives_relations(cbn):
    X, Y, A, Bs = sets_of(cbn, "WEAT7")
    g = B.weat(X, Y, A, Bs, alternative="greater")
    less_swapped = B.weat(Y, X, A, Bs, alternative="less")
    assert less_swapped.p_value == pytest.approx(g.p_value, abs=1e-12)
    two = B.weat(X, Y, A, Bs, alternative="two-sided")
    assert two.p_value == pytest.approx(2 * g.p_value, abs=1e-12)  # null is symmetric (swap X_i, Y_i)
    assert B.weat(X, Y, A, Bs, alternative="less").p_value == pytest.approx(1 - g.p_value + 1 / 12870, abs=1e-12)
    with pytest.raises(HarnessError, match="alternative"):
        B.weat(X, Y, A, Bs, alternative="bigger")


def test_parametric_p_value_is_a_normal_fit(cbn):
    from scipy.stats import norm
    X, Y, A, Bs = sets_of(cbn, "WEAT9")
    r = B.weat(X, Y, A, Bs, parametric=True)
    s = np.concatenate([r.s_x, r.s_y])
    stats = np.array([2 * s[list(c)].sum() - s.sum() for c in combinations(range(len(s)), r.n_x)])
    expected = norm.sf(r.statistic, stats.mean(), stats.std(ddof=1))
    assert r.p_value_parametric == pytest.approx(expected, rel=1e-9)


def test_synthetic_biased_and_unbiased():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 50)), rng.normal(size=(8, 50))
    r = B.weat(X, Y, X, Y)          # A = X, B = Y: X is closest to A by construction
    assert r.effect_size > 1.5 and r.p_value < 1e-3
    ps = []
    for seed in range(60):          # same distribution: d ~ 0, p ~ U(0, 1)
        g = np.random.default_rng(100 + seed)
        ps.append(B.weat(*(g.normal(size=(6, 20)) for _ in range(4))).p_value)
    ps = np.array(ps)
    assert 0.35 < ps.mean() < 0.65 and (ps < 0.05).mean() < 0.15


# ------------------------------------------------------------------------------------ edge cases
def test_unequal_targets_raise_unless_truncate():
    rng = np.random.default_rng(0)
    X, Y, A, Bs = rng.normal(size=(6, 5)), rng.normal(size=(5, 5)), rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    with pytest.raises(HarnessError, match="equal-size"):
        B.weat(X, Y, A, Bs)
    first = B.weat(X, Y, A, Bs, truncate="first")
    assert (first.n_x, first.n_y) == (5, 5) and first.truncated == {"how": "first", "from": [6, 5], "to": 5}
    np.testing.assert_allclose(first.s_x, B.association(X[:5], A, Bs))
    rnd = B.weat(X, Y, A, Bs, truncate="random", seed=1)
    assert rnd.n_x == 5 and rnd.effect_size == B.weat(X, Y, A, Bs, truncate="random", seed=1).effect_size
    with pytest.raises(HarnessError, match="truncate"):
        B.weat(X, Y, A, Bs, truncate="middle")


def test_too_few_words_raise():
    rng = np.random.default_rng(0)
    A, Bs = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    with pytest.raises(HarnessError, match="at least 2"):
        B.weat(rng.normal(size=(1, 4)), rng.normal(size=(1, 4)), A, Bs)
    with pytest.raises(HarnessError, match="at least 2"):
        B.permutation_p_value([0.1], [0.2])


def test_zero_spread_gives_nan_with_warning():
    v = np.ones((3, 4))
    with pytest.warns(B.BiasWarning, match="std 0"):
        r = B.weat(v, v, v, v)
    assert math.isnan(r.effect_size) and r.p_value == 1.0  # every partition ties


def test_zero_vector_is_an_error():
    v = np.ones((3, 4))
    z = v.copy()
    z[1] = 0
    with pytest.raises(HarnessError, match="zero vector"):
        B.association(z, v, v)


def test_drop_oov_threshold():
    words = list("abcdefghij")
    with pytest.warns(B.BiasWarning, match="dropped 2"):
        ok = B.drop_oov(words, [True] * 8 + [False] * 2)      # 20% lost: allowed (WEFE: > threshold)
    assert ok["reason"] is None and ok["n_lost"] == 2 and ok["lost"] == ["i", "j"]
    bad = B.drop_oov(words, [True] * 7 + [False] * 3)        # 30% lost: unusable
    assert bad["n_lost"] == 3 and "30% > 20%" in bad["reason"]


# --------------------------------------------------------------------------------- direct bias, RIPA
@pytest.fixture(scope="module")
def glove(data_root):
    from adapters.models.glove_cbn import glove_cbn_items
    return glove_cbn_items()


@pytest.fixture(scope="module")
def pairs(data_root):
    return json.loads((data_root / "debiaswe" / "definitional_pairs.json").read_text())


def _direction(model, pairs):
    a, fa = model.lookup([p[0] for p in pairs])
    b, fb = model.lookup([p[1] for p in pairs])
    ok = fa & fb
    return B.gender_direction(a[ok], b[ok]), int(ok.sum())


def test_direct_bias_cbn_glove(glove, pairs, cbn):
    (g, ratios), n_pairs = _direction(glove, pairs)
    assert n_pairs == 7                                     # Mary/John, herself/himself, gal/guy missing
    assert abs(ratios[0] - 0.6961) < 1e-4
    np.testing.assert_allclose(ratios[1:5], [0.085, 0.066, 0.060, 0.057], atol=1e-3)
    _, tests = cbn
    words = tests["WEAT6"]["A"][1] + tests["WEAT6"]["B"][1]  # Career + Family
    N, found = glove.lookup(words)
    assert found.all()
    assert abs(B.direct_bias(N, g, 1) - 0.0670) < 1e-4
    assert abs(B.direct_bias(N, g, 0.5) - 0.2401) < 1e-4
    assert abs(B.direct_bias(N, g, 2) - 0.0068) < 1e-4
    proj = dict(zip(words, B.projections(N, g)))
    assert abs(proj["wedding"] - 0.174) < 5e-4 and abs(proj["career"] + 0.103) < 5e-4


def test_gender_direction_matches_sklearn_pca(glove, pairs):
    from sklearn.decomposition import PCA
    a, fa = glove.lookup([p[0] for p in pairs])
    b, fb = glove.lookup([p[1] for p in pairs])
    ok = fa & fb
    a, b = B.unit_rows(a[ok]), B.unit_rows(b[ok])
    mu = (a + b) / 2
    pca = PCA(n_components=10).fit(np.concatenate([a - mu, b - mu]))
    g, ratios = B.gender_direction(a, b)
    np.testing.assert_allclose(ratios, pca.explained_variance_ratio_, atol=1e-12)
    assert abs(abs(g @ pca.components_[0]) - 1) < 1e-10


def test_direct_bias_w2v_professions(w2v, pairs, data_root):
    (g, ratios), n_pairs = _direction(w2v, pairs)
    assert n_pairs == 10
    np.testing.assert_allclose(ratios[:3], [0.6053, 0.1273, 0.0993], atol=1e-4)
    profs = [p[0] for p in json.loads((data_root / "debiaswe" / "professions.json").read_text())]
    specific = set(json.loads((data_root / "debiaswe" / "gender_specific_full.json").read_text()))
    N, found = w2v.lookup(profs)
    assert found.all() and len(profs) == 320
    assert abs(B.direct_bias(N, g) - 0.0805) < 1e-4        # paper: ~0.08 on the full w2vNEWS
    neutral = np.array([p not in specific for p in profs])
    assert neutral.sum() == 303 and abs(B.direct_bias(N[neutral], g) - 0.0731) < 1e-4


def test_direct_bias_needs_two_pairs():
    with pytest.raises(HarnessError, match="at least 2"):
        B.gender_direction(np.ones((1, 3)), np.eye(3)[:1])


def test_ripa_he_she_cbn(glove):
    words = ["wedding", "parents", "salary", "career"]
    W, _ = glove.lookup(words)
    (he, she), _ = glove.lookup(["he", "she"])
    r = B.ripa(W, he, she)
    np.testing.assert_allclose(r["mean"], [-1.433, -1.427, 0.852, 0.798], atol=1e-3)
    assert np.all(r["std"] == 0) and r["betas"].shape == (4, 1)


def test_ripa_multi_pair_is_mean_and_std_across_pairs():
    rng = np.random.default_rng(0)
    W, X, Y = rng.normal(size=(5, 7)), rng.normal(size=(3, 7)), rng.normal(size=(3, 7))
    r = B.ripa(W, X, Y)
    ref = np.array([[w @ ((x - y) / np.linalg.norm(x - y)) for x, y in zip(X, Y)] for w in W])
    np.testing.assert_allclose(r["betas"], ref, atol=1e-12)
    np.testing.assert_allclose(r["mean"], ref.mean(1), atol=1e-12)
    np.testing.assert_allclose(r["std"], ref.std(1), atol=1e-12)   # ddof 0, as WEFE
    assert r["result"] == pytest.approx(ref.mean(), abs=1e-12)
    with pytest.raises(HarnessError, match="same vector"):
        B.ripa(W, X[0], X[0])


# -------------------------------------------------------------------- WEFE 1.0.1 itself, if installed
WEFE_PY = REPO / ".cache" / "wefe-venv" / "bin" / "python"
WEFE_SCRIPT = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
import numpy as np
from gensim.models import KeyedVectors
from wefe.metrics import WEAT, RIPA
from wefe.query import Query
from wefe.word_embedding_model import WordEmbeddingModel
spec = json.loads(open(sys.argv[1]).read())
vecs = np.load(spec["vectors"], allow_pickle=False)
kv = KeyedVectors(vector_size=vecs.shape[1], dtype=np.float64)
kv.add_vectors(open(spec["words"]).read().splitlines(), vecs)
model = WordEmbeddingModel(kv, "cbn")
out = {"weat": {}, "ripa": None}
for name, s in spec["tests"].items():
    r = WEAT().run_query(Query([s["X"], s["Y"]], [s["A"], s["B"]], ["X", "Y"], ["A", "B"]), model,
                         return_effect_size=True)
    out["weat"][name] = [r["weat"], r["effect_size"]]
p = spec["pairs"]
r = RIPA().run_query(Query([p["x"], p["y"]], [spec["ripa_words"]], ["x", "y"], ["w"]), model)
out["ripa"] = {"result": r["result"], "word_values": r["word_values"]}
print(json.dumps(out))
"""


@pytest.mark.skipif(not WEFE_PY.is_file(), reason="WEFE 1.0.1 venv absent (bench/weat_vs_wefe.py creates it)")
def test_against_wefe_itself(cbn, glove, pairs, data_root, tmp_path):
    _, tests = cbn
    folder = data_root / "cbn_weat_glove"
    used = [p for p in pairs if all(w in glove.row_of for w in p)]
    x, y = [p[1] for p in used], [p[0] for p in used]          # male - female, as he - she
    ripa_words = tests["WEAT6"]["A"][1] + tests["WEAT6"]["B"][1]
    spec = {"vectors": str(folder / "item_vectors.npy"), "words": str(folder / "item_vectors_words.txt"),
            "tests": {n: {r: t[r][1] for r in "XYAB"} for n, t in tests.items()},
            "pairs": {"x": x, "y": y}, "ripa_words": ripa_words}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "wefe_check.py").write_text(WEFE_SCRIPT)
    proc = subprocess.run([str(WEFE_PY), str(tmp_path / "wefe_check.py"), str(tmp_path / "spec.json")],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and "No module named" in proc.stderr:
        pytest.skip("WEFE venv incomplete")
    assert proc.returncode == 0, proc.stderr[-2000:]
    wefe = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, (stat, d0) in wefe["weat"].items():
        r = B.weat(*sets_of(cbn, name), ddof=0, p_value=False)
        assert abs(r.statistic - stat) < 1e-9 and abs(r.effect_size - d0) < 1e-9, name
    W, _ = glove.lookup(ripa_words)
    X, _ = glove.lookup(x)
    Y, _ = glove.lookup(y)
    ours = B.ripa(W, X, Y)
    assert ours["result"] == pytest.approx(wefe["ripa"]["result"], abs=1e-9)
    for i, w in enumerate(ripa_words):
        assert ours["mean"][i] == pytest.approx(wefe["ripa"]["word_values"][w]["mean"], abs=1e-9)
        assert ours["std"][i] == pytest.approx(wefe["ripa"]["word_values"][w]["std"], abs=1e-9)
