"""`run.py report`: leaderboard tables (Markdown, CSV), PNG plots and a static site, from result files only.

Reads the user's results (`--results`, default `results/`) and, beside them, the published
leaderboard's (`leaderboard/results/` of this checkout; `--published DIR`, `--no-published`), and
their sidecar `.npy` files; never a model, never a dataset. Published rows are labelled
`<model> (published)`. Writes, under `--out` (default `reports/`):

    leaderboard.md              overall + per-task-type tables, links to the plots
    tables/overall.csv          one row per model: Borda rank, means, per-type means
    tables/<task_type>.csv      one row per model, one column per task (main score, unrounded)
    tables/scores.csv           every score of every result, long format
    tables/tasks/*.csv          the tables tasks declare (`declared.tables`), one file per table
    tables/significance-*.csv   intervals, paired tests, rank intervals, win probabilities (results with items)
    site/index.html             sortable leaderboard; site/tasks/*.html, site/models/*.html
    site/plots/*.png            the plots, embedded in the pages

Everything task-specific (title, ranked or descriptive, score directions, plot and table functions)
comes from each result's `declared` block. The pieces: `report_entries` (loading), `report_tables`
(Borda, CSV, Markdown), `report_figures` + `report_plots` (plots), `report_task_tables` (the tables
tasks declare), `report_significance` + `_views` (intervals, paired tests, rank intervals, the
win-probability heat map), `report_site` + templates/ (HTML), `report_browser` (headless-Chromium
screenshots).
"""
from __future__ import annotations

import datetime as _dt
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import HarnessError
from .report_browser import dump_dom, find_chromium, screenshot  # noqa: F401  (the report's public API)
from .report_entries import Entry, load_entries, page_slug, shown_path  # noqa: F401
from .report_figures import render_plots
from .report_significance import Significance, analyse
from .report_significance_views import csv_files, site_view
from .report_significance_views import markdown_lines as significance_lines
from .report_site import write_site
from .report_tables import borda, build_tables, render_markdown, scores_csv, table_csv  # noqa: F401
from .report_task_tables import TaskTables, markdown_lines, render_task_tables
from .report_task_tables import table_csv as task_table_csv
from .results import safe_name

SITE_MARKER = ".harness-report"   # a folder holding this file was made here and may be replaced


@dataclass
class Report:
    out_dir: Path
    markdown: Path
    csvs: list[Path]
    plots: list[Path]
    site_index: Path
    pages: list[Path]
    notes: list[str]


def _prepare_site_dir(site: Path) -> None:
    if site.exists():
        if not (site / SITE_MARKER).is_file():
            if any(site.iterdir()):
                raise HarnessError(f"{site} exists and was not made by `run.py report`; choose another --out")
        else:
            shutil.rmtree(site)
    site.mkdir(parents=True, exist_ok=True)
    (site / SITE_MARKER).write_text("made by run.py report; replaced on the next report\n")


def _write_tables(tables_dir: Path, tables, entries, task_tables: TaskTables, extra: dict[str, str]) -> list[Path]:
    if (tables_dir / SITE_MARKER).is_file():   # tables of an earlier report: no stale task types left
        for old in [*tables_dir.glob("*.csv"), *tables_dir.glob("tasks/*.csv")]:
            old.unlink()
    tables_dir.mkdir(parents=True, exist_ok=True)
    (tables_dir / SITE_MARKER).write_text("made by run.py report; replaced on the next report\n")
    csvs = []
    for t in tables:
        p = tables_dir / f"{safe_name(t.key)}.csv"
        p.write_text(table_csv(t), encoding="utf-8")
        csvs.append(p)
    p = tables_dir / "scores.csv"
    p.write_text(scores_csv(entries), encoding="utf-8")
    csvs.append(p)
    for name, text in extra.items():   # the significance layer's tables
        p = tables_dir / f"significance-{name}.csv"
        p.write_text(text, encoding="utf-8")
        csvs.append(p)
    for task, ts in task_tables.by_task.items():
        for i, t in enumerate(ts, 1):
            p = tables_dir / "tasks" / f"{page_slug(task)}-{i}.csv"
            p.parent.mkdir(exist_ok=True)
            p.write_text(task_table_csv(t), encoding="utf-8")
            csvs.append(p)
    return csvs


def make_report(results_dir: str | os.PathLike = "results", out_dir: str | os.PathLike = "reports",
                title: str = "Embedding benchmark leaderboard", published=True) -> Report:
    """published: True = the checkout's leaderboard/results when it exists; a folder; False/None = none."""
    from . import __version__
    loaded = load_entries(results_dir, published)
    entries = loaded.entries
    out = Path(out_dir)
    site = out / "site"
    _prepare_site_dir(site)
    tables = build_tables(entries, loaded.types)
    plots = render_plots(entries, site / "plots")
    task_tables = render_task_tables(entries)
    notes = loaded.notes + plots.warnings + task_tables.warnings
    try:
        sig = analyse(entries, tables, plots_dir=site / "plots")
    except Exception as e:   # noqa: BLE001  (uncertainty must never lose the leaderboard)
        sig = Significance(notes=[f"significance: not computed: {type(e).__name__}: {e}"])
        notes.append(sig.notes[0])
    for e in entries:
        if e.result.get("status") == "error":
            notes.append(f"{e.model} / {e.column}: job failed: {e.result.get('error')}")
    csvs = _write_tables(out / "tables", tables, entries, task_tables, csv_files(sig))
    context = {"title": title, "version": __version__,
               "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               "results_dir": str(results_dir), "n_results": loaded.n_user,
               "published_dir": shown_path(loaded.published_dir) if loaded.published_dir else None,
               "n_published": loaded.n_published}
    site_index, pages = write_site(site, entries, tables, plots, notes, context, task_tables,
                                   significance=site_view(sig, site))
    md = out / "leaderboard.md"
    md.write_text(render_markdown(tables, plots.by_task, notes, context, md.parent,
                                  significance_lines(sig, md.parent) + markdown_lines(task_tables)), encoding="utf-8")
    return Report(out, md, csvs, plots.all + ([sig.heatmap] if sig.heatmap else []), site_index, pages, notes)


def print_summary(rep: Report, stream=None) -> None:
    stream = stream or sys.stdout
    print(f"leaderboard: {rep.markdown}", file=stream)
    print(f"tables:      {', '.join(str(p) for p in rep.csvs)}", file=stream)
    print(f"plots:       {len(rep.plots)} PNG file(s) in {rep.site_index.parent / 'plots'}", file=stream)
    print(f"site:        {rep.site_index} ({len(rep.pages)} page(s); open it in a browser, no server needed)",
          file=stream)
    for n in rep.notes:
        print(f"note: {n}", file=stream)
