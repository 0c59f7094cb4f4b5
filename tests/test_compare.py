"""`run.py compare A B` (harness/compare.py): paired tests of two models per task, Holm across the tasks,
checked against independent computations (scipy.stats on the sidecars, Holm by hand) on the published
leaderboard's results and on tests/fixtures/significance (model-mid and model-twin apart only by noise,
model-low far behind; ToyError is lower-is-better)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as st

from harness.cli import main
from harness.compare import TaskComparison, compare

REPO = Path(__file__).resolve().parent.parent
PUBLISHED = REPO / "leaderboard" / "results"
SIG = REPO / "tests" / "fixtures" / "significance"


def holm_by_hand(p: list[float]) -> list[float]:
    m, order = len(p), sorted(range(len(p)), key=lambda i: p[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


@pytest.mark.skipif(not PUBLISHED.is_dir(), reason="no leaderboard/results in this checkout")
def test_published_static_vs_w2v_against_scipy():
    """BIOSSES: the difference of Spearman correlations recomputed by scipy from the sidecars, and the paired
    permutation p-value within Monte-Carlo error of scipy.stats.permutation_test (9,999 permutations of the
    same pairs); tasks only one model has are skipped with the reason; Holm across the compared tasks."""
    c = compare("static-tokenlearn-64", "w2v-googlenews-subset", PUBLISHED, published=False)
    by_task = {t.task: t for t in c.tasks}
    assert set(by_task) == {"BIOSSES", "Banking77Classification", "Banking77Clustering", "SICK-R"}
    assert any(s.startswith("SciFact: only static-tokenlearn-64") for s in c.skipped)
    assert any(s.startswith("STSBenchmark: only static-tokenlearn-64") for s in c.skipped)

    a = np.load(PUBLISHED / "static-tokenlearn-64" / "BIOSSES.items.npy")
    b = np.load(PUBLISHED / "w2v-googlenews-subset" / "BIOSSES.items.npy")
    gold = a[:, 0]
    assert np.array_equal(gold, b[:, 0])
    diff = st.spearmanr(gold, a[:, 1])[0] - st.spearmanr(gold, b[:, 1])[0]
    bio = by_task["BIOSSES"]
    assert bio.difference == pytest.approx(diff, abs=1e-12)
    assert bio.n_items == 100 and bio.low < bio.difference < bio.high
    ref = st.permutation_test((a[:, 1], b[:, 1]), lambda x, y: st.spearmanr(gold, x)[0] - st.spearmanr(gold, y)[0],
                              permutation_type="samples", vectorized=False, n_resamples=9999, random_state=1)
    # the harness's p from 2,000 permutations: standard error sqrt(p (1 - p) / 2000) ~ 0.0075 at p ~ 0.13
    assert abs(bio.p_value - ref.pvalue) < 0.03, (bio.p_value, ref.pvalue)
    assert bio.verdict("A", "B", c.alpha) == "not separable"
    for task in ("Banking77Classification", "Banking77Clustering", "SICK-R"):
        assert by_task[task].verdict("A", "B", c.alpha) == "A better", task
    tasks = sorted(by_task)
    assert [by_task[t].p_holm for t in tasks] == pytest.approx(holm_by_hand([by_task[t].p_value for t in tasks]))
    assert 0.9 < c.p_a_ahead <= 1.0


@pytest.mark.skipif(not PUBLISHED.is_dir(), reason="no leaderboard/results in this checkout")
def test_published_scifact_difference_is_the_mean_per_query_difference():
    c = compare("all-MiniLM-L6-v2", "static-tokenlearn-64", PUBLISHED, published=False)
    sci = next(t for t in c.tasks if t.task == "SciFact")
    per_query = [np.load(PUBLISHED / m / "SciFact__exact.per_query_ndcg_at_10.npy")
                 for m in ("all-MiniLM-L6-v2", "static-tokenlearn-64")]
    d = per_query[0] - per_query[1]
    assert sci.difference == pytest.approx(d.mean(), abs=1e-12)
    # the result file rounds retrieval scores to 5 decimals, as mteb does; the difference uses the items
    assert (sci.a, sci.b) == (pytest.approx(per_query[0].mean(), abs=5e-6), pytest.approx(per_query[1].mean(), abs=5e-6))
    ref = st.bootstrap((d,), np.mean, n_resamples=10_000, method="percentile", random_state=0).confidence_interval
    width = ref.high - ref.low
    assert abs(sci.low - ref.low) < 0.1 * width and abs(sci.high - ref.high) < 0.1 * width
    assert sci.p_value == pytest.approx(2 / (c.B + 1))   # no permutation reaches +0.467: the smallest p
    assert len(c.tasks) == 6 and all(t.verdict("A", "B", c.alpha) == "A better" for t in c.tasks)


def test_noise_apart_is_not_separable_and_lower_is_better_reads_right():
    twin = compare("model-mid", "model-twin", SIG, published=False)
    assert len(twin.tasks) == 4
    assert all(t.verdict("A", "B", twin.alpha) == "not separable" for t in twin.tasks)
    assert 0.2 < twin.p_a_ahead < 0.8
    low = compare("model-mid", "model-low", SIG, published=False)
    err = next(t for t in low.tasks if t.task == "ToyError")
    assert err.lower_is_better and err.difference < 0
    assert err.verdict("model-mid", "model-low", low.alpha) == "model-mid better"
    assert all(t.verdict("A", "B", low.alpha) == "A better" for t in low.tasks)
    reverse = compare("model-low", "model-mid", SIG, published=False)
    assert all(t.verdict("A", "B", reverse.alpha) == "B better" for t in reverse.tasks)
    assert reverse.p_a_ahead == pytest.approx(1 - low.p_a_ahead)


def test_equal_seeds_equal_results():
    one = compare("model-mid", "model-twin", SIG, published=False, seed=3)
    two = compare("model-mid", "model-twin", SIG, published=False, seed=3)
    assert one.to_json() == two.to_json()


def test_verdict_needs_the_holm_adjusted_p():
    t = TaskComparison("T", "s", 0.5, 0.4, 0.1, 0.01, 0.2, 0.01, 0.06, 100, False)
    assert t.verdict("A", "B", 0.05) == "not separable"
    assert t.verdict("A", "B", 0.1) == "A better"
    nan = TaskComparison("T", "s", 0.5, 0.5, 0.0, math.nan, math.nan, math.nan, math.nan, 100, False)
    assert nan.verdict("A", "B", 0.05) == "not separable"


def test_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "cmp.json"
    rc = main(["compare", "model-mid", "model-low", "--results", str(SIG), "--no-published", "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "ToyError" in text and "A better" in text and "4 task(s) compared: A better on 4" in text
    data = json.loads(out.read_text())
    assert data["a"] == "model-mid" and len(data["tasks"]) == 4 and data["B"] == 2000


@pytest.mark.parametrize("argv, message", [
    (["compare", "nobody", "model-low"], "model 'nobody' has no results here; models with results: model-best"),
    (["compare", "model-low", "model-low"], "two different models"),
    (["compare", "model-mid", "model-low", "--permutations", "10"], "--permutations must be at least 100"),
    (["compare", "model-mid", "model-low", "--alpha", "2"], "--alpha must be between 0 and 1"),
])
def test_bad_input_is_a_clear_error(argv, message, capsys):
    rc = main(argv + ["--results", str(SIG), "--no-published"])
    assert rc == 2
    assert message in capsys.readouterr().err
