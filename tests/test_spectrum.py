"""RankMe and the spectrum / isotropy metrics (methods.md §3).

Deterministic matrices against closed forms to 1e-6 relative (the table's printed values are
rounded: RankMe(I_10) with eps = 1e-7 is exactly exp(-10 p log p), p = 0.1 + 1e-7, = 10.0000130);
the random matrices of §3.3 (default_rng(0), drawn in the table's order) to the stated tolerances.
"""
from __future__ import annotations

import numpy as np
import pytest

from harness.errors import HarnessError
from tasks.metrics import spectrum as S


def rankme_closed_form(sigma, eps=1e-7):
    p = np.asarray(sigma, float) / np.sum(sigma) + eps
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


# ------------------------------------------------------------------------- deterministic cases
def test_identity_10():
    m, s = S.spectrum_metrics(np.eye(10))
    assert m["rankme_no_eps"] == pytest.approx(10, rel=1e-12)
    p = 0.1 + 1e-7
    assert m["rankme"] == pytest.approx(np.exp(-10 * p * np.log(p)), rel=1e-12)
    assert m["rankme"] == pytest.approx(10, rel=2e-6)          # the table's "10" (eps moves it 1.3e-6)
    assert m["stable_rank"] == pytest.approx(10, rel=1e-6)
    assert m["rank"] == 10
    np.testing.assert_allclose(s, np.ones(10), rtol=1e-12)


def test_diag_4_2_1_1():
    m, _ = S.spectrum_metrics(np.diag([4.0, 2.0, 1.0, 1.0]))
    assert m["rankme_no_eps"] == pytest.approx(2 ** 1.75, rel=1e-6)     # 3.36359 = 2^1.75
    assert m["rankme"] == pytest.approx(rankme_closed_form([4, 2, 1, 1]), rel=1e-9)
    assert round(m["rankme"], 5) == 3.36359 and round(m["rankme_no_eps"], 5) == 3.36359
    assert m["stable_rank"] == pytest.approx(1.375, rel=1e-6)
    assert m["rank"] == 4


@pytest.fixture(scope="module")
def cases():
    """methods.md §3.3, rng = default_rng(0), cases drawn in the table's order."""
    rng = np.random.default_rng(0)
    out = {"rank1": rng.standard_normal((1000, 1)) @ rng.standard_normal((1, 100))}
    out["gauss_25600"] = rng.standard_normal((25600, 256))
    out["gauss_1000"] = rng.standard_normal((1000, 256))
    out["shift"] = rng.standard_normal((25600, 256)) + 10
    out["powerlaw"] = rng.standard_normal((25600, 256)) * np.sqrt(1.0 / np.arange(1, 257))
    z = np.zeros((25600, 256))
    z[:, :32] = rng.standard_normal((25600, 32))
    out["cols32"] = z
    return out


@pytest.fixture(scope="module")
def metrics(cases):
    with pytest.warns(RuntimeWarning, match="alpha-ReQ: only 1 usable"):
        rank1 = S.spectrum_metrics(cases["rank1"])[0]
    return {"rank1": rank1, **{k: S.spectrum_metrics(v)[0] for k, v in cases.items() if k != "rank1"}}


def test_rank_one(metrics):
    m = metrics["rank1"]
    assert m["rankme"] == pytest.approx(rankme_closed_form([1] + [0] * 99), rel=1e-6)
    assert round(m["rankme"], 5) == 1.00016
    assert m["rankme_no_eps"] == pytest.approx(1, rel=1e-6)
    assert m["stable_rank"] == pytest.approx(1, rel=1e-6)
    assert m["rank"] == 1
    assert m["participation_ratio"] == pytest.approx(1, rel=1e-6)
    assert np.isnan(m["alpha_req"])
    assert m["isoscore"] == pytest.approx(0, abs=1e-9)
    assert abs(m["average_cosine"]) < 0.05


# ------------------------------------------------------------------------------ random cases
REFERENCE = {  # rankme, rankme eps=0, stable rank, rank, PR, alpha-ReQ, IsoScore, avg cos (None: ~0)
    "gauss_25600": (255.70, 255.67, 211.6, 256, 253.4, 0.094, 0.9898, None),
    "gauss_1000": (247.17, 247.14, 113.9, 256, 203.9, 0.491, 0.7957, None),
    "shift": (58.51, 58.50, 1.010, 256, 253.4, 0.093, 0.9900, 0.990),
    "powerlaw": (208.80, 208.77, 6.156, 256, 22.97, 1.006, 0.0861, None),
    "cols32": (32.006, 31.995, 30.03, 32, 31.96, 0.041, 0.1214, None),
}


@pytest.mark.parametrize("case", sorted(REFERENCE))
def test_random_reference_values(metrics, case):
    rm, rm0, sr, rank, pr, alpha, iso, cos = REFERENCE[case]
    m = metrics[case]
    assert m["rankme"] == pytest.approx(rm, rel=0.005)
    assert m["rankme_no_eps"] == pytest.approx(rm0, rel=0.005)
    assert m["stable_rank"] == pytest.approx(sr, rel=0.005)
    assert m["rank"] == rank
    assert m["participation_ratio"] == pytest.approx(pr, rel=0.005)
    assert m["alpha_req"] == pytest.approx(alpha, abs=0.01)
    assert m["isoscore"] == pytest.approx(iso, abs=0.01)
    assert m["average_cosine"] == pytest.approx(cos if cos is not None else 0.0, abs=0.01)


def test_isoscore_closed_form():
    for n, k, expected in ((10, 5, 0.444444), (256, 32, 0.121569)):
        # rows +-e_1 .. +-e_k: mean 0, equal variance on k of n dims, so IsoScore = (k - 1)/(n - 1)
        Z = np.zeros((2 * k, n))
        Z[np.arange(k) * 2, np.arange(k)] = 1.0
        Z[np.arange(k) * 2 + 1, np.arange(k)] = -1.0
        assert S.isoscore(Z) == pytest.approx((k - 1) / (n - 1), rel=1e-9)
        assert S.isoscore(Z) == pytest.approx(expected, abs=1e-6)
    assert S.isoscore(np.random.default_rng(0).standard_normal((20000, 8))) > 0.99


def test_rankme_invariant_to_scale_and_rotation(cases):
    Z = cases["gauss_1000"][:, :64] * np.linspace(0.2, 3, 64)
    base = S.rankme(Z)
    Q = np.linalg.qr(np.random.default_rng(1).standard_normal((64, 64)))[0]
    assert S.rankme(Z * 1e3) == pytest.approx(base, rel=1e-9)
    assert S.rankme(Z * 1e-3) == pytest.approx(base, rel=1e-9)
    assert S.rankme(Z @ Q) == pytest.approx(base, rel=1e-9)
    assert S.rankme(np.eye(7)) == pytest.approx(7, rel=2e-6)
    assert base <= min(Z.shape) + 1e-3


def test_rankme_sampling_uses_the_seed(cases):
    Z = cases["gauss_1000"]
    a = S.rankme(Z, max_rows=300, seed=1)
    assert a == S.rankme(Z, max_rows=300, seed=1)
    assert a != S.rankme(Z, max_rows=300, seed=2)
    assert S.rankme(Z, max_rows=300, seed=1) < S.rankme(Z)      # fewer rows bias RankMe down
    assert S.rankme(Z, max_rows=None) == S.rankme(Z, max_rows=5000)


def test_centering_is_an_option(cases):
    Z = cases["shift"][:2000]
    assert S.rankme(Z) < 100 < S.rankme(Z, center=True)


def test_average_cosine_is_exact_pair_mean():
    Z = np.random.default_rng(5).standard_normal((40, 6)) + 0.3
    U = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    C = U @ U.T
    expected = (C.sum() - np.trace(C)) / (40 * 39)
    assert S.average_cosine(Z) == pytest.approx(expected, rel=1e-12)


# -------------------------------------------------------------------------------------- bad input
def test_bad_input():
    Z = np.random.default_rng(0).standard_normal((20, 5))
    Z[4, 1] = np.nan
    with pytest.raises(HarnessError, match=r"NaN or Inf\) in row 4"):
        S.rankme(Z)
    Z[4, 1] = np.inf
    with pytest.raises(HarnessError, match="row 4"):
        S.spectrum_metrics(Z)
    with pytest.raises(HarnessError, match="at least 2 rows"):
        S.rankme(np.ones((1, 5)))
    with pytest.raises(HarnessError, match="all zeros"):
        S.rankme(np.zeros((10, 5)))
    Z = np.random.default_rng(0).standard_normal((20, 5))
    Z[7] = 0
    with pytest.raises(HarnessError, match="row 7 is a zero vector"):
        S.average_cosine(Z)


def test_singular_values_match_lapack_svd():
    from scipy.linalg import svdvals
    rng = np.random.default_rng(7)
    low_rank = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 40))
    for Z in (rng.standard_normal((500, 30)), rng.standard_normal((30, 500)), low_rank, low_rank.T,
              rng.standard_normal((200, 50)) * np.logspace(0, -6, 50)):
        s, ref = S.singular_values(Z), svdvals(Z)
        assert s.shape == ref.shape
        np.testing.assert_allclose(s, ref, rtol=0, atol=1e-12 * ref[0])
