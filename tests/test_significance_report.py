"""Paired tests, Holm, rank intervals and win probabilities (harness/significance_ranks.py) and how the report
shows them (harness/report_significance*.py), on results with per-item data: tests/fixtures/significance
(see make_significance_results.py: model-best far ahead, model-mid and model-twin apart only by noise,
model-low behind) and on constructed cases whose answer is known."""
from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness import report
from harness.report_tables import borda, md_escape
from harness.significance import holm, statistic
from harness.significance_ranks import (ItemScores, TaskColumn, borda_points, not_separable, pair_tests,
                                        rank_intervals, score_items)

REPO = Path(__file__).resolve().parent.parent
SIG = REPO / "tests" / "fixtures" / "significance"
PLAIN = REPO / "tests" / "fixtures" / "results"          # results written before per-item data
MODELS = ["model-best", "model-mid", "model-twin", "model-low"]


def holm_by_hand(p: list[float]) -> list[float]:
    """Holm (1979): sort ascending, multiply the i-th smallest (0-based) by m - i, running maximum, cap at 1."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def _items(task: str, folder: Path = SIG, models=MODELS) -> list[ItemScores]:
    out = []
    for m in models:
        path = folder / m / f"{task}.json"
        got, why = score_items(path, json.loads(path.read_text()))
        assert got is not None, why
        out.append(got)
    return out


def _rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


# -------------------------------------------------------------------------------------- Holm, pairs
def test_holm_reference_values():
    """By hand: p = (0.01, 0.04, 0.03, 0.005); sorted 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06,
    0.04 x 1 = 0.04 -> running max 0.06; back in input order (0.03, 0.06, 0.06, 0.02)."""
    p = [0.01, 0.04, 0.03, 0.005]
    assert holm_by_hand(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])          # 0.5 x 2 = 1.0 carries over 0.6 x 1
    assert holm([0.02]) == pytest.approx([0.02])


def test_pair_tests_are_holm_corrected_across_the_tasks_pairs():
    scores = _items("ToyRetrieval")
    tests, notes = pair_tests("ToyRetrieval", scores, B=999, seed=5)
    assert not notes and [(t.a, t.b) for t in tests] == [(a, b) for i, a in enumerate(MODELS) for b in MODELS[i + 1:]]
    assert [t.p_holm for t in tests] == pytest.approx(holm_by_hand([t.p_value for t in tests]))
    mean = statistic("mean")
    for t, (a, b) in zip(tests, [(a, b) for i, a in enumerate(scores) for b in scores[i + 1:]]):
        assert t.difference == pytest.approx(mean(a.items) - mean(b.items), abs=1e-12)
        assert t.low <= t.difference <= t.high and (t.B, t.seed, t.n_items, t.method) == (999, 5, 300, "permutation")
    by_pair = {(t.a, t.b): t for t in tests}
    assert by_pair[("model-mid", "model-twin")].p_holm > 0.5                 # noise only
    others = [t for k, t in by_pair.items() if k != ("model-mid", "model-twin")]
    assert all(t.p_value == pytest.approx(2 / 1000) and t.p_holm < 0.05 for t in others)   # the smallest p at B=999
    assert not_separable("model-best", tests) == {"model-best"}
    assert not_separable("model-mid", tests) == {"model-mid", "model-twin"}
    again, _ = pair_tests("ToyRetrieval", scores, B=999, seed=5)              # equal seeds, equal results
    assert [t.p_value for t in again] == [t.p_value for t in tests]


def test_items_that_do_not_align_are_not_paired(tmp_path):
    scores = _items("ToyRetrieval", models=["model-mid", "model-twin"])
    scores[1].items = scores[1].items[:-1]
    tests, notes = pair_tests("ToyRetrieval", scores)
    assert not tests and "model-mid has 300 items" in notes[0] and "model-twin 299" in notes[0]


# -------------------------------------------------------------------------------------- rank intervals
def _column(name: str, per_model: dict[str, np.ndarray], lower=False) -> TaskColumn:
    decl = {"statistic": "mean", "columns": ["v"]}
    items = {m: ItemScores(m, Path(f"{m}/{name}.json"), v[:, None], decl, "{}") for m, v in per_model.items()}
    return TaskColumn(name, {m: float(v.mean()) for m, v in per_model.items()}, items, lower)


def test_rank_intervals_known_answer():
    """A is far ahead on every task: rank [1, 1] and P(A beats X) = 1; B and C share their noise: [2, 3]."""
    rng = np.random.default_rng(0)
    cols = []
    for t in range(5):
        base = rng.uniform(0.3, 0.6, 200)
        cols.append(_column(f"T{t}", {"A": base + 0.3, "B": base + rng.normal(0, 0.05, 200),
                                      "C": base + rng.normal(0, 0.05, 200), "D": base - 0.3}))
    r = rank_intervals(cols, ["A", "B", "C", "D"], draws=400, seed=3)
    assert r.interval("A") == (1, 1) and r.interval("D") == (4, 4)
    assert r.interval("B") == (2, 3) and r.interval("C") == (2, 3)
    assert r.leader == "A" and r.tied_with_leader() == {"A"}
    assert r.win[0, 1:] == pytest.approx([1, 1, 1]) and r.win[1:, 0] == pytest.approx([0, 0, 0])
    off = ~np.eye(4, dtype=bool)
    assert (r.win + r.win.T)[off] == pytest.approx(1.0)                        # ties count half
    assert 0.05 < r.win[1, 2] < 0.95
    same = rank_intervals(cols, ["A", "B", "C", "D"], draws=400, seed=3)
    assert np.array_equal(same.win, r.win) and np.array_equal(same.low, r.low)
    # lower is better flips every task: D leads
    flipped = [TaskColumn(c.name, c.observed, c.items, True) for c in cols]
    assert rank_intervals(flipped, ["A", "B", "C", "D"], draws=200, seed=3).interval("D") == (1, 1)
    # B and C alone: not separable from each other, whichever leads
    pair = rank_intervals(cols, ["B", "C"], draws=400, seed=3)
    assert pair.tied_with_leader() == {"B", "C"}


def test_observed_ranks_are_the_leaderboards_borda():
    """No resampling: points and ranks equal report_tables.borda (ties averaged, missing 0, `min` ranks)."""
    rng = np.random.default_rng(1)
    for _ in range(20):
        m, t = rng.integers(2, 6), rng.integers(1, 5)
        values = rng.choice([0.1, 0.2, 0.3, np.nan], size=(m, t))
        models, names = [f"m{i}" for i in range(m)], [f"t{j}" for j in range(t)]
        lower = {n for n in names if rng.random() < 0.3}
        cols = [TaskColumn(n, {models[i]: values[i, j] for i in range(m) if not np.isnan(values[i, j])},
                           lower_is_better=n in lower) for j, n in enumerate(names)]
        scores = {models[i]: {n: (None if np.isnan(values[i, j]) else values[i, j]) for j, n in enumerate(names)}
                  for i in range(m)}
        theirs = borda(scores, names, lower)
        r = rank_intervals(cols, models, draws=3, seed=0)       # nothing moves: every draw is a task resample
        assert list(r.rank) == [theirs[x][1] for x in models]
        signed = np.array([[(-1 if n in lower else 1) * values[i, j] for i in range(m)] for j, n in enumerate(names)])
        assert borda_points(signed).sum(axis=0) == pytest.approx([theirs[x][0] for x in models])
        assert r.fixed == [f"{x} / {c.name}" for c in cols for x in models if x in c.observed]


# -------------------------------------------------------------------------------------- the report
@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("sigreport")
    rep = report.make_report(SIG, out, published=False)
    return rep


def test_leaderboard_shows_intervals_groups_and_rank_intervals(rendered):
    md = rendered.markdown.read_text()
    assert "| 1 | **model-best** | 12 | \\[1, 1\\] |" in md                 # leader, alone in its group
    assert "| 4 | model-low | 0 | \\[4, 4\\] |" in md
    rec = json.loads((SIG / "model-best" / "ToyRetrieval.json").read_text())
    iv = rec["intervals"]["ndcg_at_10"]
    cell = f"**{rec['main_score'] * 100:.2f} \\[{iv['low'] * 100:.2f}, {iv['high'] * 100:.2f}\\]**"
    assert cell in md                                                       # score [interval], bold: the best
    mid = json.loads((SIG / "model-mid" / "ToyRetrieval.json").read_text())
    assert f"| {mid['main_score'] * 100:.2f} \\[" in md                     # separable from the best: not bold
    tables = rendered.out_dir / "tables"
    overall = _rows(tables / "overall.csv")
    assert [(r["Model"], r["Rank interval (95%)"]) for r in overall][0] == ("model-best", "[1, 1]")
    ranks = {(r["table"], r["model"]): r for r in _rows(tables / "significance-ranks.csv")}
    assert (ranks[("overall", "model-mid")]["rank_low"], ranks[("overall", "model-mid")]["rank_high"]) == ("2", "3")
    assert ranks[("overall", "model-best")]["not_separable_from_leader"] == "True"
    assert ranks[("overall", "model-mid")]["not_separable_from_leader"] == "False"
    pairs = _rows(tables / "significance-pairwise.csv")
    assert len(pairs) == 4 * 6 and all(float(r["p_holm"]) >= float(r["p_value"]) for r in pairs)
    intervals = _rows(tables / "significance-intervals.csv")
    assert len(intervals) == 16 and {r["method"] for r in intervals} <= {"BCa", "percentile"}
    win = _rows(tables / "significance-win_probability.csv")
    assert [r["model"] for r in win] == [r["Model"] for r in overall]
    # lower is better (ToyError): the lowest error is the best, bold
    err = json.loads((SIG / "model-best" / "ToyError.json").read_text())
    assert f"**{err['main_score'] * 100:.2f} \\[" in md


def test_models_not_separable_from_the_leader_are_marked(tmp_path):
    """Without model-best, model-mid and model-twin (noise apart) share the lead: both bold in every task
    column and in the overall table, model-low in neither."""
    res = tmp_path / "results"
    for m in ("model-mid", "model-twin", "model-low"):
        shutil.copytree(SIG / m, res / m, ignore=shutil.ignore_patterns("ToySTS*"))
    rep = report.make_report(res, tmp_path / "out", published=False)
    md = rep.markdown.read_text()
    overall = md.split("## Overall")[1].split("\n## ")[0]
    assert "**model-mid**" in overall and "**model-twin**" in overall and "**model-low**" not in overall
    for task in ("ToyRetrieval", "ToyClassification", "ToyError"):
        mid = json.loads((res / "model-mid" / f"{task}.json").read_text())["main_score"]
        twin = json.loads((res / "model-twin" / f"{task}.json").read_text())["main_score"]
        low = json.loads((res / "model-low" / f"{task}.json").read_text())["main_score"]
        assert f"**{mid * 100:.2f} \\[" in md and f"**{twin * 100:.2f} \\[" in md, task
        assert f"| {low * 100:.2f} \\[" in md, task
    ranks = {r["model"]: r for r in _rows(rep.out_dir / "tables" / "significance-ranks.csv") if r["table"] == "overall"}
    assert ranks["model-twin"]["not_separable_from_leader"] == ranks["model-mid"]["not_separable_from_leader"] == "True"
    assert (ranks["model-low"]["rank_low"], ranks["model-low"]["rank_high"]) == ("3", "3")


def test_heat_map_on_the_report_and_the_site(rendered):
    heat = rendered.out_dir / "site" / "plots" / "significance" / "win_probability.png"
    data = heat.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(data[16:20], "big") > 300
    assert heat in rendered.plots
    assert "](site/plots/significance/win_probability.png)" in rendered.markdown.read_text()
    index = rendered.site_index.read_text()
    assert 'src="plots/significance/win_probability.png"' in index and 'id="significance"' in index
    assert 'class="name tied"' in index and '<span class="ci">[' in index and "Paired tests" in index


def test_results_without_items_render_as_before(tmp_path):
    rep = report.make_report(PLAIN, tmp_path / "out", published=False)
    md = rep.markdown.read_text()
    assert "| Rank (Borda) | Model | Borda count | Mean (Task) |" in md          # no rank-interval column
    assert "None of these results has per-item data" in md and "**" not in md.split("## Significance")[0]
    assert not list((rep.out_dir / "tables").glob("significance-*.csv"))
    assert "None of these results has per-item data" in rep.site_index.read_text()


def test_a_result_without_its_sidecar_is_named_and_held_fixed(tmp_path):
    res = tmp_path / "results"
    for m in ("model-best", "model-mid"):
        shutil.copytree(SIG / m, res / m, ignore=shutil.ignore_patterns("ToySTS*", "ToyClass*"))
    (res / "model-mid" / "ToyRetrieval.items.npy").unlink()
    rep = report.make_report(res, tmp_path / "out", published=False)
    md = rep.markdown.read_text()
    why = f"{res / 'model-mid' / 'ToyRetrieval.json'}: no per-item data (ToyRetrieval.items.npy is missing)"
    assert md_escape(why) in md and why in rep.site_index.read_text()
    assert md_escape("held fixed in the rank resampling (no per-item data): model-mid / ToyRetrieval") in md
    rec = json.loads((res / "model-mid" / "ToyRetrieval.json").read_text())
    assert f"{rec['main_score'] * 100:.2f} \\[{rec['intervals']['ndcg_at_10']['low'] * 100:.2f}, " in md
    pairs = _rows(rep.out_dir / "tables" / "significance-pairwise.csv")
    assert {r["task"] for r in pairs} == {"ToyError"}                        # ToyRetrieval: one side untestable
