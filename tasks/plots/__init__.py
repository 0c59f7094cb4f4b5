"""Task plots (PNG, matplotlib Agg), drawn from result dicts and their sidecar arrays only.

A task names its plots in `Task.plots` ("module:plot_function"; recorded in each result's
`declared.plots`). The report calls each once per task with that task's ok results:
`plot_x(results: list[dict], result_paths: list[Path], out_dir: Path) -> list[Path]` (the paths it
wrote; [] when the results hold nothing to draw). Only functions named `plot_*` are called, and a
failing one becomes a warning note in the report. Published results arrive with `model` set to
their row label, "<model> (published)". A task that declares a plot function named with both "qps"
and "recall" (`plot_recall_vs_qps`) draws its own QPS-vs-recall chart, and the report's generic
Pareto plot is left out for it.

Tables work the same way (`Task.tables`, recorded in `declared.tables`): `table_x(results,
result_paths) -> [{"title": str, "columns": [str], "rows": [[cell, ...]], "note": str}]`, a cell
being a string, a number, a bool or None; the report shows them in leaderboard.md, on the task's
site page and as CSV (harness/report_task_tables.py). Only functions named `table_*` are called.

The helpers here are shared by every plot module: a headless pyplot, file-name slugs, and saving.
"""
from __future__ import annotations

import re
from pathlib import Path


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported on first use."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def slug(*parts) -> str:
    """A file-name-safe name from the parts joined by '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(str(p) for p in parts)).strip("_")


def save_figure(fig, out: Path, *, dpi: int = 110, tight: bool = False) -> Path:
    """Write `fig` to `out` (folders created), close it, return the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not tight:
        fig.tight_layout()
    fig.savefig(out, dpi=dpi, bbox_inches="tight" if tight else None)
    pyplot().close(fig)
    return out
