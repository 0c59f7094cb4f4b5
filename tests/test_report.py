"""`run.py report` on the hand-made fixture results (tests/fixtures/results, see make_results.py)."""
from __future__ import annotations

import csv
import io
import json
import shutil
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from harness import cli, report
from harness.errors import HarnessError
from harness.report_plots import pareto_front

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "results"
EVIL = "<script>alert(1)</script>"
MODELS = {"all-MiniLM-L6-v2", "static-tokenlearn-64", EVIL}
TASKS = {"STSBenchmark", "SICK-R", "SciFact", "Banking77Classification", "Banking77Clustering",
         "IntrinsicDimension-SciFact", "Spectrum-SciFact", "SEAT", "HNSWInsertionOrder"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The report rendered once through the CLI, as a user runs it."""
    out = tmp_path_factory.mktemp("report")
    assert cli.main(["report", "--results", str(FIXTURES), "--out", str(out)]) == 0
    return out


def _csv_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _main_score(model: str, task: str, index: str | None = None) -> float:
    from harness.results import result_path
    return json.loads(result_path(FIXTURES, model, task, index).read_text())["main_score"]


# -------------------------------------------------------------------------------------- reference tests
def test_pareto_front_reference():
    """methods.md §6.4 (ann-benchmarks create_pointset)."""
    points = [(0.5, 1000), (0.6, 900), (0.55, 800), (0.9, 100), (0.9, 50)]
    assert pareto_front(points) == [(0.5, 1000), (0.6, 900), (0.9, 100)]
    assert pareto_front([(0.0, 5.0), (0.7, 0.0), (0.8, 10.0)]) == [(0.8, 10.0)]   # falsy x or y skipped


def test_borda_rank_matches_mteb():
    """Ties, missing scores and equal point sums, against mteb 2.x's own Borda expression (polars)."""
    pl = pytest.importorskip("polars")
    from mteb.benchmarks._create_table import _get_borda_rank
    rng = np.random.default_rng(0)
    for trial in range(30):
        n_models, n_tasks = rng.integers(2, 7), rng.integers(1, 6)
        values = rng.choice([0.1, 0.2, 0.3, 0.5, np.nan], size=(n_models, n_tasks))
        cols = [f"t{j}" for j in range(n_tasks)]
        frame = pl.DataFrame({c: [None if np.isnan(v) else float(v) for v in values[:, j]]
                              for j, c in enumerate(cols)})
        theirs = frame.with_columns(_get_borda_rank(cols).alias("rank"))["rank"].to_list()
        scores = {f"m{i}": {c: (None if np.isnan(values[i, j]) else float(values[i, j])) for j, c in enumerate(cols)}
                  for i in range(n_models)}
        ours = report.borda(scores, cols)
        assert [ours[f"m{i}"][1] for i in range(n_models)] == theirs, (trial, values)


# -------------------------------------------------------------------------------------- tables
def test_tables_markdown_and_csv(rendered):
    tables = rendered / "tables"
    expected = {"overall", "sts", "retrieval", "classification", "clustering", "intrinsic-dimension", "spectrum",
                "bias", "hnsw-order", "scores"}
    assert {p.stem for p in tables.glob("*.csv")} == expected
    overall = _csv_rows(tables / "overall.csv")
    assert [r["Model"] for r in overall] == ["all-MiniLM-L6-v2", "static-tokenlearn-64", EVIL]
    assert [r["Rank (Borda)"] for r in overall] == ["1", "2", "3"]
    minilm = [("STSBenchmark", None), ("SICK-R", None), ("SciFact", "exact"), ("Banking77Classification", None),
              ("Banking77Clustering", None)]
    scores = {t: _main_score("all-MiniLM-L6-v2", t, i) for t, i in minilm}
    assert float(overall[0]["Mean (Task)"]) == pytest.approx(np.mean(list(scores.values())), abs=1e-12)
    type_means = [np.mean([scores["STSBenchmark"], scores["SICK-R"]]), scores["SciFact"],
                  scores["Banking77Classification"], scores["Banking77Clustering"]]
    assert float(overall[0]["Mean (TaskType)"]) == pytest.approx(np.mean(type_means), abs=1e-12)
    # the failed classification job leaves the evil model's means empty (MTEB's skipna=False)
    assert overall[2]["Mean (Task)"] == "" and overall[2]["sts"] != ""
    # the ANN index gets its own column, outside the rank and the mean
    retrieval = _csv_rows(tables / "retrieval.csv")
    assert "SciFact [hnswlib]" in retrieval[0]
    assert float(retrieval[0]["Mean"]) == pytest.approx(scores["SciFact"], abs=1e-12)
    classification = _csv_rows(tables / "classification.csv")
    assert next(r for r in classification if r["Model"] == EVIL)["Banking77Classification"] == "error"
    geometry = _csv_rows(tables / "intrinsic-dimension.csv")
    assert "Rank (Borda)" not in geometry[0] and "IntrinsicDimension-SciFact (mle)" in geometry[0]
    long = _csv_rows(tables / "scores.csv")
    assert any(r["metric"] == "cosine_spearman" and r["is_main"] == "True" for r in long)
    md = (rendered / "leaderboard.md").read_text()
    assert "| 1 | all-MiniLM-L6-v2 | 10 | " in md       # 3 models x 5 tasks: 2 points per win
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md and EVIL not in md
    assert "site/plots/" in md


# -------------------------------------------------------------------------------------- plots
def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_plots_cover_every_kind(rendered):
    plots = rendered / "site" / "plots"
    names = sorted(p.name for p in plots.glob("*.png"))
    for kind, task in (("bars", "STSBenchmark"), ("bars", "SciFact"), ("pareto", "SciFact"),
                       ("pareto", "HNSWInsertionOrder"), ("model", "all-MiniLM-L6-v2")):
        assert any(n.startswith(kind) and task in n for n in names), (kind, task, names)
    # LID histograms, spectra, effect sizes, recall vs ef: drawn by tasks/plots/<family>.py when it
    # has them (else generically, next test)
    for task, least in (("IntrinsicDimension-SciFact", 2), ("Spectrum-SciFact", 2), ("SEAT", 2),
                        ("HNSWInsertionOrder", 3)):
        page = next((rendered / "site" / "tasks").glob(f"{task}-*.html"))
        assert len(_parse(page).images) >= least, task      # bars (+ Pareto) + the family's plots
    for p in plots.rglob("*.png"):
        w, h = _png_size(p)
        assert 300 < w < 2000 and 150 < h < 2000, (p.name, w, h)


def test_generic_plots_when_no_family_module(tmp_path, monkeypatch):
    """Without tasks/plots/<family>.py the report still draws LID, spectrum and effect-size plots."""
    results = tmp_path / "results"
    for model in ("all-MiniLM-L6-v2", "static-tokenlearn-64"):
        for f in (FIXTURES / model).iterdir():
            if f.name.split(".")[0] in ("IntrinsicDimension-SciFact", "Spectrum-SciFact", "SEAT",
                                        "HNSWInsertionOrder"):
                (results / model).mkdir(parents=True, exist_ok=True)
                shutil.copy(f, results / model / f.name)
    monkeypatch.setattr(report, "_family_functions", lambda task_type: [])
    rep = report.make_report(results, tmp_path / "out")
    kinds = {p.name.split("-")[0] for p in rep.plots}
    assert {"lid", "spectrum", "bias", "bars", "pareto", "recall"} <= kinds, kinds
    for p in rep.plots:
        _png_size(p)
    assert not rep.notes


# -------------------------------------------------------------------------------------- site
class _Page(HTMLParser):
    """Script elements, text nodes, links and images of one page."""

    def __init__(self):
        super().__init__()
        self.scripts, self.text, self.links, self.images, self._in_script = [], [], [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts.append(attrs.get("src"))
            self._in_script = True
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs["src"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.scripts.append("inline:" + data)
        elif not self._in_script:
            self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_site_pages_links_and_provenance(rendered):
    site = rendered / "site"
    assert len(list((site / "tasks").glob("*.html"))) == len(TASKS)
    assert len(list((site / "models").glob("*.html"))) == len(MODELS)
    for page_path in [site / "index.html", *site.glob("tasks/*.html"), *site.glob("models/*.html")]:
        page = _parse(page_path)
        for href in page.links + page.images:          # every relative link and image resolves offline
            if "://" not in href and not href.startswith("#"):
                assert (page_path.parent / href.split("#")[0]).resolve().is_file(), (page_path.name, href)
    scifact = next(site.glob("tasks/SciFact-*.html"))
    page = _parse(scifact)
    text = " ".join(page.text)
    assert len(page.images) >= 2                        # bars + Pareto embedded
    record = json.loads((FIXTURES / "all-MiniLM-L6-v2" / "SciFact__hnswlib.json").read_text())
    for needle in (record["dataset"]["sha256"]["corpus.jsonl"], record["job_key"], "hnswlib 0.8.0",
                   "torch 2.13.0", record["model_revision"], '"ef_construction": 128'):
        assert needle in text, needle


def test_names_are_text_never_markup(rendered):
    site = rendered / "site"
    for page_path in [site / "index.html", *site.glob("tasks/*.html"), *site.glob("models/*.html")]:
        page = _parse(page_path)
        assert all(s and s.endswith("assets/sortable.js") for s in page.scripts), (page_path.name, page.scripts)
    index = _parse(site / "index.html")
    assert EVIL in index.text                             # shown as a text node
    evil_page = next(p for p in site.glob("models/*.html") if EVIL in "".join(_parse(p).text))
    assert "<script" not in evil_page.name


def test_chromium_screenshot_and_sorting(rendered, tmp_path):
    if report.find_chromium() is None:
        pytest.skip("Chromium is absent (/usr/bin/chromium): apt-get install chromium to run this test")
    site = rendered / "site"
    shot = report.screenshot(site / "index.html", tmp_path / "index.png", width=1280, height=900)
    w, h = _png_size(shot)
    assert (w, h) == (1280, 900)
    import matplotlib.image as mpimg
    pixels = mpimg.imread(shot)
    assert pixels.std() > 0.05                          # not a blank page
    # after the page's scripts ran: the evil name is text, and ours is the only script
    dom = report.dump_dom(site / "index.html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert dom.count("<script") == 1
    # the sortable table really sorts in a browser: click the overall table's Model header twice
    probe = site / "sort-probe.html"
    probe.write_text((site / "index.html").read_text().replace(
        "</body>", "<script>var th = document.querySelectorAll('table.sortable')[0].tHead.rows[0].cells[1];"
                   "th.click(); th.click();</script></body>"))
    dom = report.dump_dom(probe)
    first_table = dom[dom.index("<tbody>"):dom.index("</tbody>")]
    order = [m for m in ("static-tokenlearn-64", "all-MiniLM-L6-v2", "&lt;script&gt;") if m in first_table]
    positions = [first_table.index(m) for m in order]
    assert positions == sorted(positions), "second click on Model should sort descending"
    probe.unlink()


# -------------------------------------------------------------------------------------- family plots
def test_family_plot_functions_are_discovered(tmp_path, monkeypatch):
    results = tmp_path / "results"
    for model in ("all-MiniLM-L6-v2", "static-tokenlearn-64"):
        (results / model).mkdir(parents=True)
        shutil.copy(FIXTURES / model / "STSBenchmark.json", results / model / "STSBenchmark.json")
    calls = []

    def plot_demo(results_, paths, out_dir):
        calls.append(([r["model"] for r in results_], [Path(p).name for p in paths], Path(out_dir)))
        target = Path(out_dir) / "demo.png"
        target.write_bytes(b"\x89PNG\r\n\x1a\n stand-in")
        return [target]

    def plot_broken(results_, paths, out_dir):
        raise ValueError("boom")

    fake = types.ModuleType("fake_sts_plots")
    fake.plot_demo, fake.plot_broken = plot_demo, plot_broken
    monkeypatch.setitem(sys.modules, "fake_sts_plots", fake)
    monkeypatch.setitem(report.FAMILY_PLOTS, "sts", ["tasks.plots.no_such_module", "fake_sts_plots"])
    rep = report.make_report(results, tmp_path / "out")
    assert calls == [(["all-MiniLM-L6-v2", "static-tokenlearn-64"], ["STSBenchmark.json"] * 2, calls[0][2])]
    assert any(p.name == "demo.png" for p in rep.plots)
    assert any("plot_broken failed: ValueError: boom" in n for n in rep.notes)
    task_page = next((tmp_path / "out" / "site" / "tasks").glob("STSBenchmark-*.html")).read_text()
    assert "demo.png" in task_page


# -------------------------------------------------------------------------------------- bad input
def test_bad_input_is_exit_2(tmp_path, capsys):
    assert cli.main(["report", "--results", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "results folder not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="no result files"):
        report.make_report(tmp_path / "empty", tmp_path / "o")
    # a site folder the report did not make is never deleted
    foreign = tmp_path / "mine" / "site"
    foreign.mkdir(parents=True)
    (foreign / "keep.txt").write_text("user file")
    with pytest.raises(HarnessError, match="not made by"):
        report.make_report(FIXTURES, tmp_path / "mine")
    assert (foreign / "keep.txt").is_file()


def test_tied_scores_draw_the_same_bars_in_every_process(tmp_path):
    """Models with equal main scores are ordered by name, not by set order (which varies with
    PYTHONHASHSEED): the same results give byte-identical plots in any process."""
    import os
    import subprocess
    script = (
        "import sys; from pathlib import Path; from harness.report import Entry; "
        "from harness.report_plots import plot_task_bars; "
        "es = [Entry(Path(m), {'model': m, 'task': 'T', 'task_type': 'sts', 'status': 'ok', "
        "'main_score': 0.5, 'main_score_name': 's', 'index': None}) for m in "
        "['m-alpha', 'm-beta', 'm-gamma', 'm-delta', 'm-epsilon']]; "
        "plot_task_bars(es, Path(sys.argv[1]), {})")
    outs = []
    for seed in ("1", "2", "3"):
        out = tmp_path / f"bars-{seed}.png"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        subprocess.run([sys.executable, "-c", script, str(out)], cwd=Path(__file__).resolve().parent.parent,
                       env=env, check=True)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]
