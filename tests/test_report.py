"""`run.py report` on the hand-made fixture results (tests/fixtures/results, see make_results.py), and on
small results written here: published rows, task types nobody registered, declared plots, bad files."""
from __future__ import annotations

import ast
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
from harness.pareto import pareto_front
from harness.report_fields import index_is_exact
from tests.fixtures.make_results import toy_result, write

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "results"
PUBLISHED = REPO / "leaderboard" / "results"
EVIL = "<script>alert(1)</script>"
MODELS = {"all-MiniLM-L6-v2", "static-tokenlearn-64", EVIL}
TASKS = {"STSBenchmark", "SICK-R", "SciFact", "Banking77Classification", "Banking77Clustering",
         "IntrinsicDimension-SciFact", "Spectrum-SciFact", "SEAT", "HNSWInsertionOrder"}
PAIR_DECLARED = {"title": "Pair scoring", "ranked": True, "plots": [],
                 "scores": {"ap": {"higher_is_better": True, "tolerance": 0.001}}}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The fixture report rendered once through the CLI, as a user runs it (published results left out)."""
    out = tmp_path_factory.mktemp("report")
    assert cli.main(["report", "--results", str(FIXTURES), "--out", str(out), "--no-published"]) == 0
    return out


def _csv_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _main_score(model: str, task: str, index: str | None = None) -> float:
    from harness.results import result_path
    return json.loads(result_path(FIXTURES, model, task, index).read_text())["main_score"]


def _copy(models_tasks, dest: Path) -> Path:
    for model, name in models_tasks:
        (dest / model).mkdir(parents=True, exist_ok=True)
        for f in (FIXTURES / model).glob(f"{name}*"):
            shutil.copy(f, dest / model / f.name)
    return dest


# -------------------------------------------------------------------------------------- reference tests
def test_pareto_front_reference():
    """methods.md §6.4 (ann-benchmarks create_pointset); one implementation, re-exported where it was."""
    points = [(0.5, 1000), (0.6, 900), (0.55, 800), (0.9, 100), (0.9, 50)]
    assert pareto_front(points) == [(0.5, 1000), (0.6, 900), (0.9, 100)]
    assert pareto_front([(0.0, 5.0), (0.7, 0.0), (0.8, 10.0)]) == [(0.8, 10.0)]   # falsy x or y skipped
    from harness import report_plots
    assert report_plots.pareto_front is pareto_front


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
        # a lower-is-better column ranks as the higher-is-better column of the negated values
        negated = {m: {c: (None if v is None else -v) for c, v in row.items()} for m, row in scores.items()}
        assert report.borda(negated, cols, lower_better=set(cols)) == ours


def test_exact_index_flag():
    assert index_is_exact(None) and index_is_exact({"name": "exact"}) and index_is_exact({"name": "flat"})
    assert not index_is_exact({"name": "hnswlib"})
    assert index_is_exact({"name": "my-brute-force", "exact": True})     # the adapter's spec decides
    assert not index_is_exact({"name": "exact", "exact": False})


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
    # static-tokenlearn-64/SICK-R.json has no `declared` block: the registry's declaration ranks it
    sts = _csv_rows(tables / "sts.csv")
    assert next(r for r in sts if r["Model"] == "static-tokenlearn-64")["SICK-R"] != ""
    # the ANN index (spec: "exact": false) gets its own column, outside the rank and the mean
    retrieval = _csv_rows(tables / "retrieval.csv")
    assert "SciFact [hnswlib]" in retrieval[0]
    assert float(retrieval[0]["Mean"]) == pytest.approx(scores["SciFact"], abs=1e-12)
    classification = _csv_rows(tables / "classification.csv")
    assert next(r for r in classification if r["Model"] == EVIL)["Banking77Classification"] == "error"
    geometry = _csv_rows(tables / "intrinsic-dimension.csv")
    assert "Rank (Borda)" not in geometry[0] and "IntrinsicDimension-SciFact (mle)" in geometry[0]
    long = _csv_rows(tables / "scores.csv")
    assert any(r["metric"] == "cosine_spearman" and r["is_main"] == "True" for r in long)
    assert {r["source"] for r in long} == {"results"}
    md = (rendered / "leaderboard.md").read_text()
    assert "| 1 | all-MiniLM-L6-v2 | 10 | " in md       # 3 models x 5 tasks: 2 points per win
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md and EVIL not in md
    assert "site/plots/" in md
    # headings and overall columns carry the titles the tasks declare
    for title in ("## STS", "## Retrieval", "## Intrinsic dimension", "## HNSW insertion order", "## Bias"):
        assert title + "\n" in md, title
    assert "| Classification | Clustering | Retrieval | STS |" in md


def test_no_task_type_is_named_in_the_engine():
    """report*.py and gate.py hold no task-type table: none of the registered types is a string in them."""
    from harness import registry
    known = {registry.make_task(name).type for name in registry.TASKS}
    assert {"sts", "retrieval", "bias", "hnsw-order"} <= known
    for path in [*sorted((REPO / "harness").glob("report*.py")), REPO / "harness" / "gate.py"]:
        strings = {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)
                   and isinstance(n.value, str)}
        assert not strings & known, (path.name, strings & known)


def test_new_task_type_is_ranked_from_its_declaration(tmp_path):
    """A type nobody registered, declared ranked: its own titled table, Borda-ranked, in the overall table."""
    res = tmp_path / "results"
    for model, ap in (("m-a", 0.61), ("m-b", 0.74)):
        write(res, toy_result(model, "ToyPairs", "pair-scoring", ap, main="ap", declared=PAIR_DECLARED))
    lower = {"title": "Pair error", "ranked": True, "plots": [],
             "scores": {"err": {"higher_is_better": False, "tolerance": 0.001}}}
    for model, err in (("m-a", 0.10), ("m-b", 0.30)):             # lower is better: m-a wins here
        write(res, toy_result(model, "ToyErrors", "pair-error", err, main="err", declared=lower))
    rep = report.make_report(res, tmp_path / "out", published=False)
    pair = _csv_rows(rep.out_dir / "tables" / "pair-scoring.csv")
    assert [(r["Rank (Borda)"], r["Model"]) for r in pair] == [("1", "m-b"), ("2", "m-a")]
    errors = _csv_rows(rep.out_dir / "tables" / "pair-error.csv")
    assert [(r["Rank (Borda)"], r["Model"]) for r in errors] == [("1", "m-a"), ("2", "m-b")]
    overall = _csv_rows(rep.out_dir / "tables" / "overall.csv")
    assert {r["Model"]: r["Borda count"] for r in overall} == {"m-a": "1.0", "m-b": "1.0"}
    md = rep.markdown.read_text()
    assert "## Pair scoring" in md and "| Pair error | Pair scoring |" in md
    index = _parse(rep.site_index)
    assert "Pair scoring" in index.text and not rep.notes


def test_undeclared_unregistered_task_is_descriptive_with_a_note(tmp_path):
    res = tmp_path / "results"
    for model, v in (("m-a", 0.5), ("m-b", 0.7)):
        write(res, toy_result(model, "Mystery", "mystery-type", v))
    rep = report.make_report(res, tmp_path / "out", published=False)
    table = _csv_rows(rep.out_dir / "tables" / "mystery-type.csv")
    assert "Rank (Borda)" not in table[0] and {r["Model"] for r in table} == {"m-a", "m-b"}
    assert not (rep.out_dir / "tables" / "overall.csv").exists()
    assert any("Mystery" in n and "no 'declared' block" in n and "descriptive" in n for n in rep.notes)
    assert "## mystery-type" in rep.markdown.read_text()


# -------------------------------------------------------------------------------------- published
def test_published_rows_beside_the_users(tmp_path, capsys):
    mine = _copy([("all-MiniLM-L6-v2", "STSBenchmark"), ("all-MiniLM-L6-v2", "SICK-R")], tmp_path / "mine")
    pub = _copy([("all-MiniLM-L6-v2", "STSBenchmark"), ("all-MiniLM-L6-v2", "SICK-R"),
                 ("static-tokenlearn-64", "STSBenchmark"), ("static-tokenlearn-64", "SICK-R"),
                 ("all-MiniLM-L6-v2", "IntrinsicDimension-SciFact")], tmp_path / "pub")
    out = tmp_path / "out"
    assert cli.main(["report", "--results", str(mine), "--published", str(pub), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "published" in printed
    sts = _csv_rows(out / "tables" / "sts.csv")
    assert {r["Model"] for r in sts} == {"all-MiniLM-L6-v2", "all-MiniLM-L6-v2 (published)",
                                         "static-tokenlearn-64 (published)"}
    mine_row = next(r for r in sts if r["Model"] == "all-MiniLM-L6-v2")
    pub_row = next(r for r in sts if r["Model"] == "all-MiniLM-L6-v2 (published)")
    assert mine_row["STSBenchmark"] == pub_row["STSBenchmark"] != ""
    md = (out / "leaderboard.md").read_text()
    assert "2 result file(s) in" in md and "5 published result file(s) in" in md
    # the site marks published rows (a class on the row) and says where they come from
    index = (out / "site" / "index.html").read_text()
    assert '<tr class="published">' in index and str(pub) in index
    pages = {" ".join(_parse(p).text).split("revision")[0]: p for p in (out / "site" / "models").glob("*.html")}
    pub_page = next(p for head, p in pages.items() if "all-MiniLM-L6-v2 (published)" in head)
    assert "published results, from" in " ".join(_parse(pub_page).text)
    # family plots see the published model under its row label
    lid = next((out / "site" / "plots").rglob("lid-histogram-*.png"))
    assert lid.is_file()
    # --no-published leaves them out
    out2 = tmp_path / "out2"
    assert cli.main(["report", "--results", str(mine), "--no-published", "--out", str(out2)]) == 0
    assert {r["Model"] for r in _csv_rows(out2 / "tables" / "sts.csv")} == {"all-MiniLM-L6-v2"}
    assert cli.main(["report", "--results", str(mine), "--no-published", "--published", str(pub),
                     "--out", str(out2)]) == 2


def test_published_only_when_the_user_has_no_results(tmp_path):
    pub = _copy([("static-tokenlearn-64", "STSBenchmark")], tmp_path / "pub")
    for missing in (tmp_path / "never-ran", tmp_path / "empty"):
        if missing.name == "empty":
            missing.mkdir()
        rep = report.make_report(missing, tmp_path / f"out-{missing.name}", published=pub)
        assert any("no results of your own" in n and "published results only" in n for n in rep.notes)
        rows = _csv_rows(rep.out_dir / "tables" / "sts.csv")
        assert [r["Model"] for r in rows] == ["static-tokenlearn-64 (published)"]


@pytest.mark.skipif(not PUBLISHED.is_dir(), reason="no leaderboard/results in this checkout")
def test_default_published_folder_is_the_checkouts(tmp_path):
    """`make_report(results, out)` as `run.py run` calls it shows the checkout's published results too."""
    mine = _copy([("all-MiniLM-L6-v2", "STSBenchmark")], tmp_path / "mine")
    rep = report.make_report(mine, tmp_path / "out")
    models = {r["Model"] for r in _csv_rows(rep.out_dir / "tables" / "overall.csv")}
    assert "all-MiniLM-L6-v2" in models and "all-MiniLM-L6-v2 (published)" in models


@pytest.mark.skipif(not PUBLISHED.is_dir(), reason="no leaderboard/results in this checkout")
def test_rendering_the_published_folder_gives_the_committed_leaderboard(tmp_path):
    """`run.py report --results leaderboard/results --out leaderboard --no-published` made leaderboard/:
    the same command gives the same tables (the CSVs carry no timestamp)."""
    out = tmp_path / "leaderboard"
    assert cli.main(["report", "--results", str(PUBLISHED), "--out", str(out), "--no-published"]) == 0
    committed = REPO / "leaderboard" / "tables"
    assert sorted(p.name for p in (out / "tables").glob("*.csv")) == sorted(p.name for p in committed.glob("*.csv"))
    for p in committed.glob("*.csv"):
        assert (out / "tables" / p.name).read_text() == p.read_text(), p.name


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
    # LID histograms, spectra, effect sizes, recall vs ef: drawn by the functions each task declares
    family = {p.name.split("-")[0] for p in plots.rglob("*-family/*.png")}
    assert {"lid", "singular", "bias_effect_sizes_SEAT.png", "recall", "order"} <= family, family
    for task, least in (("IntrinsicDimension-SciFact", 2), ("Spectrum-SciFact", 2), ("SEAT", 2),
                        ("HNSWInsertionOrder", 4)):
        page = next((rendered / "site" / "tasks").glob(f"{task}-*.html"))
        assert len(_parse(page).images) >= least, task      # bars (+ Pareto) + the declared plots
    for p in plots.rglob("*.png"):
        w, h = _png_size(p)
        assert 300 < w < 2000 and 150 < h < 2000, (p.name, w, h)


def test_declared_plot_functions_are_called_and_failures_are_notes(tmp_path, monkeypatch):
    calls = []

    def plot_demo(results_, paths, out_dir):
        calls.append(([r["model"] for r in results_], [Path(p).name for p in paths], Path(out_dir)))
        target = Path(out_dir) / "demo.png"
        target.write_bytes(b"\x89PNG\r\n\x1a\n stand-in")
        return [target]

    def plot_broken(results_, paths, out_dir):
        raise ValueError("boom")

    fake = types.ModuleType("fake_toy_plots")
    fake.plot_demo, fake.plot_broken, fake.helper = plot_demo, plot_broken, lambda *a: calls.append("helper")
    monkeypatch.setitem(sys.modules, "fake_toy_plots", fake)
    declared = dict(PAIR_DECLARED, plots=["fake_toy_plots:plot_demo", "fake_toy_plots:plot_broken",
                                          "tasks.plots.no_such_module:plot_x", "fake_toy_plots:helper",
                                          "fake_toy_plots"])
    res = tmp_path / "results"
    for model, ap in (("m-a", 0.61), ("m-b", 0.74)):
        write(res, toy_result(model, "ToyPairs", "pair-scoring", ap, main="ap", declared=declared))
    rep = report.make_report(res, tmp_path / "out", published=False)
    assert calls == [(["m-a", "m-b"], ["ToyPairs.json"] * 2, calls[0][2])]     # once per task, never helper
    assert any(p.name == "demo.png" for p in rep.plots)
    assert any("plot_broken for ToyPairs failed: ValueError: boom" in n for n in rep.notes)
    assert any("tasks.plots.no_such_module:plot_x" in n and "ModuleNotFoundError" in n for n in rep.notes)
    assert sum("not 'module:plot_function'" in n for n in rep.notes) == 2
    task_page = next((tmp_path / "out" / "site" / "tasks").glob("ToyPairs-*.html")).read_text()
    assert "demo.png" in task_page


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
    assert "your results" in text                       # provenance says whose result it is
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


# -------------------------------------------------------------------------------------- bad input
def test_bad_result_files_are_notes(tmp_path):
    res = _copy([("all-MiniLM-L6-v2", "STSBenchmark")], tmp_path / "results")
    (res / "all-MiniLM-L6-v2" / "Broken.json").write_text("{not json")
    bad = toy_result("m-a", "ToyPairs", "pair-scoring", 0.5, main="ap", declared=PAIR_DECLARED)
    bad["main_score"] = "0.5"
    (res / "all-MiniLM-L6-v2" / "Bad.json").write_text(json.dumps(bad))
    rep = report.make_report(res, tmp_path / "out", published=False)
    assert any("Broken.json" in n and "not valid JSON" in n for n in rep.notes)
    assert any("Bad.json" in n and "main_score" in n for n in rep.notes)
    assert "Broken.json" in rep.site_index.read_text()


def test_bad_input_is_exit_2(tmp_path, capsys):
    assert cli.main(["report", "--results", str(tmp_path / "nope"), "--out", str(tmp_path / "o"),
                     "--no-published"]) == 2
    assert "results folder not found" in capsys.readouterr().err
    assert cli.main(["report", "--results", str(FIXTURES), "--published", str(tmp_path / "nope"),
                     "--out", str(tmp_path / "o")]) == 2
    assert "published results folder not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="no result files"):
        report.make_report(tmp_path / "empty", tmp_path / "o", published=False)
    # a site folder the report did not make is never deleted
    foreign = tmp_path / "mine" / "site"
    foreign.mkdir(parents=True)
    (foreign / "keep.txt").write_text("user file")
    with pytest.raises(HarnessError, match="not made by"):
        report.make_report(FIXTURES, tmp_path / "mine", published=False)
    assert (foreign / "keep.txt").is_file()


def test_tied_scores_draw_the_same_bars_in_every_process(tmp_path):
    """Models with equal main scores are ordered by name, not by set order (which varies with
    PYTHONHASHSEED): the same results give byte-identical plots in any process."""
    import os
    import subprocess
    script = (
        "import sys; from pathlib import Path; from harness.report_entries import Entry; "
        "from harness.report_plots import plot_task_bars; "
        "es = [Entry(Path(m), {'model': m, 'task': 'T', 'task_type': 'sts', 'status': 'ok', "
        "'main_score': 0.5, 'main_score_name': 's', 'index': None}) for m in "
        "['m-alpha', 'm-beta', 'm-gamma', 'm-delta', 'm-epsilon']]; "
        "plot_task_bars(es, Path(sys.argv[1]), {})")
    outs = []
    for seed in ("1", "2", "3"):
        out = tmp_path / f"bars-{seed}.png"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        subprocess.run([sys.executable, "-c", script, str(out)], cwd=REPO, env=env, check=True)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]


def test_a_result_written_with_grid_keys_matches_its_published_twin():
    """`point` = the bare name and a single query point add nothing to an index's identity, so a run of
    `--indexes exact` today and a published result written before index grids share one column."""
    from harness.report_fields import index_point
    old = {"name": "exact", "exact": True, "build": {"metric": "ip"}, "query": {"chunk_size": 50000}}
    new = {**old, "point": "exact", "query_points": [{}]}
    assert index_point(new) == index_point(old)
    grid = {**old, "name": "hnswlib", "point": "hnswlib(M=8)[ef=10,20]", "query_points": [{"ef": 10}, {"ef": 20}]}
    assert index_point(grid) != index_point({**grid, "point": "hnswlib(M=8)[ef=10]", "query_points": [{"ef": 10}]})
