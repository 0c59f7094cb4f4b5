"""The ANN sweep's report: recall-vs-QPS and nDCG-vs-QPS charts and the Pareto table (tasks/plots/ann.py),
the engine's declared tables (harness/report_task_tables.py), index points as distinct entries, and the
generic Pareto plot left out where a task draws its own. Fixture results: tests/fixtures/ann
(make_ann_results.py): 2 indexes x 2 build points x 3 query points on a retrieval set and a plain set."""
from __future__ import annotations

import csv
import io
import json
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness import report
from harness.report_fields import point_labels
from harness.report_figures import draws_own_pareto
from harness.results import load_result_files
from tasks.plots import ann
from tests.fixtures.make_ann_results import write_fixtures

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "ann"
EVIL = "<script>alert(1)</script>"


def _results(root: Path = FIXTURES):
    pairs, problems = load_result_files(root)
    assert not problems
    return [r for _, r in pairs], [p for p, _ in pairs]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("ann-report")
    rep = report.make_report(FIXTURES, out, published=False)
    return rep


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text, self.images, self.scripts, self.tables = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "script":
            self.scripts.append(attrs.get("src"))
        if tag == "table":
            self.tables += 1

    def handle_data(self, data):
        self.text.append(data)


def _page(site: Path, task: str) -> tuple[_Page, str]:
    path = next((site / "tasks").glob(f"{task}-*.html"))
    html = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)
    return page, html


# ------------------------------------------------------------------------------------------ fixtures
def test_committed_fixtures_are_what_the_script_writes(tmp_path):
    written = write_fixtures(tmp_path)
    assert len(written) == 8
    for p in written:
        committed = FIXTURES / p.relative_to(tmp_path)
        assert json.loads(committed.read_text()) == json.loads(p.read_text()), committed


# ------------------------------------------------------------------------------------------ Pareto table
def _dominated(p, others) -> bool:
    """Independent of harness.pareto: another point at least as good on both axes and better on one."""
    return any(q != p and q[0] >= p[0] and q[1] >= p[1] for q in others)


def test_pareto_table_rows_equal_an_independent_front():
    results, paths = _results()
    tables = ann.table_pareto_points(results, paths)
    assert len(tables) == 2                                      # one per (task, model)
    by_title = {t["title"].split(" (")[0]: t for t in tables}
    assert set(by_title) == {"SciFact", "word2vec GoogleNews 13k"}
    for t in tables:
        cols = t["columns"]
        rows = [dict(zip(cols, r)) for r in t["rows"]]
        task = "ANN-SciFact" if t["title"].startswith("SciFact") else "ANN-W2V"
        mine = [r for r in results if r["task"] == task]
        expected = set()
        for name in {r["details"]["index"]["name"] for r in mine}:
            pts = [(p["recall_tie@10"], p["qps"], r, p) for r in mine if r["details"]["index"]["name"] == name
                   for p in r["details"]["points"]]
            xy = [(x, y) for x, y, _, _ in pts]
            for x, y, r, p in pts:
                if not _dominated((x, y), xy):
                    expected.add((name, json.dumps(p["query"]), x, y, r["details"]["build"]["seconds"],
                                  r["details"]["build"]["size_bytes"] / 1e6, p["latency_ms"]["p99"]))
        got = {(r["index"], json.dumps({k: int(v) for k, v in (kv.split("=") for kv in r["query"].split(", "))}),
                r["recall@10"], r["QPS"], r["build s"], r["size MB"], r["p99 ms"]) for r in rows}
        assert got == expected
        assert len(rows) == 10 and len(mine) * 3 == 12           # two dominated points left out
        assert ("nDCG@10" in cols) == (task == "ANN-SciFact")     # nDCG only where there are qrels
        assert {r["build"] for r in rows if r["index"] == "hnswlib"} == {"M=8, ef_construction=64",
                                                                      "M=16, ef_construction=64"}
        assert "methods.md §6.4" in t["note"] and "best of 3 repeats" in t["note"]


def test_colours_are_stable_per_index_name():
    both = ann.index_styles({"hnswlib", "faiss-ivf-flat"})
    assert ann.index_styles({"faiss-ivf-flat"}) == {"faiss-ivf-flat": both["faiss-ivf-flat"]}
    assert both["hnswlib"] != both["faiss-ivf-flat"]
    many = ann.index_styles({f"idx{i}" for i in range(10)})
    assert len(set(many.values())) == 10                         # 10 indexes: 10 distinct styles


# ------------------------------------------------------------------------------------------ plots
def test_plots_one_per_data_set_and_drawn(tmp_path):
    import matplotlib.image as mpimg
    import numpy as np
    results, paths = _results()
    recall = ann.plot_recall_vs_qps(results, paths, tmp_path)
    ndcg = ann.plot_ndcg_vs_qps(results, paths, tmp_path)
    assert sorted(p.name for p in recall) == ["recall-vs-qps-ANN-SciFact-all-MiniLM-L6-v2.png",
                                              "recall-vs-qps-ANN-W2V-w2v-googlenews-subset.png"]
    assert [p.name for p in ndcg] == ["ndcg-vs-qps-ANN-SciFact-all-MiniLM-L6-v2.png"]   # W2V has no qrels
    styles = ann.index_styles({"hnswlib", "faiss-ivf-flat"})
    for p in recall + ndcg:
        img = mpimg.imread(p)[..., :3]
        assert 600 < img.shape[1] < 1400 and 400 < img.shape[0] < 1000, (p.name, img.shape)
        assert img.std() > 0.05                                  # not blank
        for colour, _ in styles.values():                        # both fronts are drawn, in their colours
            rgb = np.array([int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
            assert (np.abs(img - rgb).max(axis=2) < 0.03).sum() > 200, (p.name, colour)
    assert ann.plot_recall_vs_qps([{"task": "x", "status": "ok", "details": {}}], [], tmp_path) == []


def test_generic_pareto_is_left_out_only_when_the_task_draws_its_own():
    assert draws_own_pareto(["tasks.plots.ann:plot_recall_vs_qps", "tasks.plots.ann:plot_ndcg_vs_qps"])
    assert not draws_own_pareto(["tasks.plots.hnsw:plot_recall_vs_ef", "tasks.plots.hnsw:plot_order_effects"])
    assert not draws_own_pareto([])


# ------------------------------------------------------------------------------------------ the report
def test_report_shows_every_build_point_the_tables_and_plots(rendered):
    site = rendered.out_dir / "site"
    assert not any("two result files" in n for n in rendered.notes)   # build points are distinct entries
    assert not list((site / "plots").glob("pareto-ANN-*.png"))      # the task draws its own
    long = list(csv.DictReader(io.StringIO((rendered.out_dir / "tables" / "ann-sweep.csv").read_text())))
    assert len(long) == 8 and {r["Index"] for r in long} == {"hnswlib(M=8)", "hnswlib(M=16)",
                                                              "faiss-ivf-flat(nlist=32)", "faiss-ivf-flat(nlist=64)"}
    page, html = _page(site, "ANN-SciFact")
    text = " ".join(page.text)
    assert "Pareto points (recall@10 vs QPS)" in text and "build peak MB" in text and "nDCG@10" in text
    assert page.tables >= 2                                          # scores + the Pareto table
    assert any("recall-vs-qps" in src for src in page.images) and any("ndcg-vs-qps" in src for src in page.images)
    w2v, _ = _page(site, "ANN-W2V")
    assert not any("ndcg-vs-qps" in src for src in w2v.images)
    md = rendered.markdown.read_text()
    assert "## Task tables" in md and "### ANN-SciFact: SciFact (n=5,183" in md
    assert "| hnswlib | M=16, ef\\_construction=64 | ef=40 | 0.97 | 0.643 | 2600 |" in md
    task_csvs = sorted((rendered.out_dir / "tables" / "tasks").glob("*.csv"))
    assert len(task_csvs) == 2
    rows = list(csv.DictReader(io.StringIO(task_csvs[0].read_text())))
    assert len(rows) == 10 and all(float(r["QPS"]) > 0 for r in rows)


def _toy_results(tmp_path: Path, tables: list[str]) -> Path:
    """The fixture results, re-declared with other table functions."""
    res = tmp_path / "results"
    results, paths = _results()
    for r, p in zip(results, paths):
        r["declared"]["tables"] = tables
        dest = res / p.relative_to(FIXTURES)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps(r))
    return res


def test_a_broken_table_function_is_a_note_never_a_lost_report(tmp_path, monkeypatch):
    calls = []

    def table_broken(results, paths):
        calls.append(len(results))
        raise ValueError("boom")

    fake = types.ModuleType("fake_ann_tables")
    fake.table_broken = table_broken
    fake.table_bad_shape = lambda results, paths: [{"title": "t", "columns": ["a", "b"], "rows": [[1]]}]
    fake.table_bad_cell = lambda results, paths: [{"title": "t", "columns": ["a"], "rows": [[{"x": 1}]]}]
    fake.helper = lambda results, paths: calls.append("helper")
    monkeypatch.setitem(sys.modules, "fake_ann_tables", fake)
    res = _toy_results(tmp_path, ["fake_ann_tables:table_broken", "fake_ann_tables:table_bad_shape",
                                  "fake_ann_tables:table_bad_cell", "fake_ann_tables:helper",
                                  "tasks.plots.no_such_module:table_x", "tasks.plots.ann:table_pareto_points"])
    rep = report.make_report(res, tmp_path / "out", published=False)
    assert calls == [4, 4]                                           # once per task, never the helper
    notes = "\n".join(rep.notes)
    assert "table fake_ann_tables:table_broken for ANN-SciFact failed: ValueError: boom" in notes
    assert "row 0 is not a list of 2 cells" in notes and "a dict is not a cell" in notes
    assert "not 'module:table_function'" in notes and "ModuleNotFoundError" in notes
    page, _ = _page(rep.out_dir / "site", "ANN-SciFact")
    text = " ".join(page.text)
    assert "ValueError: boom" in text                                # the note is on the task's page too
    assert "Pareto points (recall@10 vs QPS)" in text                # the good table is still there


def test_table_cells_are_text_on_the_site_and_in_markdown(tmp_path, monkeypatch):
    fake = types.ModuleType("fake_evil_tables")
    fake.table_evil = lambda results, paths: [{"title": f"title {EVIL}", "columns": [EVIL, "n"],
                                               "rows": [[EVIL, 1.5], ["<b>bold</b>", None]], "note": EVIL}]
    monkeypatch.setitem(sys.modules, "fake_evil_tables", fake)
    res = _toy_results(tmp_path, ["fake_evil_tables:table_evil"])
    rep = report.make_report(res, tmp_path / "out", published=False)
    page, html = _page(rep.out_dir / "site", "ANN-SciFact")
    assert all(s and s.endswith("assets/sortable.js") for s in page.scripts)    # no script came from a cell
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert f"title {EVIL}" in " ".join(page.text) and page.text.count(EVIL) >= 3  # cell, header, note as text
    md = rep.markdown.read_text()
    assert EVIL not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md


# ------------------------------------------------------------------------------------------ labels
def test_point_labels_name_what_differs():
    hnsw = lambda m, ef=10, **kw: {"name": "hnswlib", "exact": False, "build": {"M": m, "metric": "ip"},  # noqa: E731
                                   "query": {"ef": ef}, **kw}
    from harness.report_fields import index_point
    assert point_labels([hnsw(16)]) == {index_point(hnsw(16)): "hnswlib"}
    labels = point_labels([hnsw(8), hnsw(16), hnsw(16, 40)])
    assert sorted(labels.values()) == ["hnswlib(M=16)[ef=10]", "hnswlib(M=16)[ef=40]", "hnswlib(M=8)[ef=10]"]
    same = point_labels([hnsw(16, point="hnswlib(M=16)[ef=10]"), hnsw(16, point="hnswlib(M=16)[ef=10,20]")])
    assert sorted(same.values()) == ["hnswlib(M=16)[ef=10,20]", "hnswlib(M=16)[ef=10]"]


def test_a_retrieval_job_at_several_query_points_keeps_every_point(tmp_path):
    """One result file per index point (`--indexes "hnswlib[ef=10,40,80]"`): each point its own column and
    its own dot on the generic QPS-vs-recall plot, none dropped as a duplicate."""
    src = REPO / "tests" / "fixtures" / "results" / "all-MiniLM-L6-v2" / "SciFact__hnswlib.json"
    res = tmp_path / "results" / "all-MiniLM-L6-v2"
    res.mkdir(parents=True)
    for ef, recall, qps in ((10, 0.90, 9000.0), (40, 0.97, 4000.0), (80, 0.99, 2000.0)):
        r = json.loads(src.read_text())
        r["index"]["query"]["ef"] = ef
        r["scores"]["index_recall_tie_at_10"] = recall
        r["index_stats"]["qps"] = qps
        r["main_score"] = r["scores"]["ndcg_at_10"] = 0.6 + ef / 1000
        (res / f"SciFact__hnswlib_ef={ef}.json").write_text(json.dumps(r))
    rep = report.make_report(tmp_path / "results", tmp_path / "out", published=False)
    assert not any("two result files" in n for n in rep.notes)
    table = list(csv.DictReader(io.StringIO((rep.out_dir / "tables" / "retrieval.csv").read_text())))
    got = {c: float(table[0][c]) for c in table[0] if c.startswith("SciFact")}
    assert got == pytest.approx({"SciFact [hnswlib[ef=10]]": 0.61, "SciFact [hnswlib[ef=40]]": 0.64,
                                 "SciFact [hnswlib[ef=80]]": 0.68}, abs=1e-12)
    assert any(p.name.startswith("pareto-SciFact") for p in rep.plots)
