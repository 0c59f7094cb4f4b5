"""`run.py report`: leaderboard tables (Markdown, CSV), PNG plots and a static site, from result files only.

Reads the user's results (`--results`, default `results/`) and, beside them, the published
leaderboard's (`leaderboard/results/` of this checkout; `--published DIR`, `--no-published`), and
their sidecar `.npy` files; never a model, never a dataset. Published rows are labelled
`<model> (published)`. Writes, under `--out` (default `reports/`):

    leaderboard.md              overall + per-task-type tables, links to the plots
    tables/overall.csv          one row per model: Borda rank, means, per-type means
    tables/<task_type>.csv      one row per model, one column per task (main score, unrounded)
    tables/scores.csv           every score of every result, long format
    site/index.html             sortable leaderboard; site/tasks/*.html, site/models/*.html
    site/plots/*.png            the plots, embedded in the pages

Everything task-specific (title, ranked or descriptive, score directions, plot functions) comes from
each result's `declared` block. The pieces: `report_entries` (loading), `report_tables` (Borda,
CSV, Markdown), `report_figures` + `report_plots` (plots), `report_site` + templates/ (HTML),
`report_browser` (headless-Chromium screenshots).
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
from .report_entries import Entry, load_entries, shown_path  # noqa: F401
from .report_figures import render_plots
from .report_site import write_site
from .report_tables import borda, build_tables, render_markdown, scores_csv, table_csv  # noqa: F401
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


def _write_tables(tables_dir: Path, tables, entries) -> list[Path]:
    if (tables_dir / SITE_MARKER).is_file():   # tables of an earlier report: no stale task types left
        for old in tables_dir.glob("*.csv"):
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
    return csvs + [p]


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
    notes = loaded.notes + plots.warnings
    for e in entries:
        if e.result.get("status") == "error":
            notes.append(f"{e.model} / {e.column}: job failed: {e.result.get('error')}")
    csvs = _write_tables(out / "tables", tables, entries)
    context = {"title": title, "version": __version__,
               "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               "results_dir": str(results_dir), "n_results": loaded.n_user,
               "published_dir": shown_path(loaded.published_dir) if loaded.published_dir else None,
               "n_published": loaded.n_published}
    site_index, pages = write_site(site, entries, tables, plots, notes, context)
    md = out / "leaderboard.md"
    md.write_text(render_markdown(tables, plots.by_task, notes, context, md.parent), encoding="utf-8")
    return Report(out, md, csvs, plots.all, site_index, pages, notes)


def print_summary(rep: Report, stream=None) -> None:
    stream = stream or sys.stdout
    print(f"leaderboard: {rep.markdown}", file=stream)
    print(f"tables:      {', '.join(str(p) for p in rep.csvs)}", file=stream)
    print(f"plots:       {len(rep.plots)} PNG file(s) in {rep.site_index.parent / 'plots'}", file=stream)
    print(f"site:        {rep.site_index} ({len(rep.pages)} page(s); open it in a browser, no server needed)",
          file=stream)
    for n in rep.notes:
        print(f"note: {n}", file=stream)
