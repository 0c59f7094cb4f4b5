"""`run.py report`: leaderboard tables (Markdown, CSV), PNG plots and a static site, from result files only.

Reads `<results>/**/*.json` (design.md "Result file") and their sidecar `.npy` files; never a model,
never a dataset. Writes, under `--out` (default `reports/`):

    leaderboard.md              overall + per-task-type tables, links to the plots
    tables/overall.csv          one row per model: Borda rank, means, per-type means
    tables/<task_type>.csv      one row per model, one column per task (main score, unrounded)
    tables/scores.csv           every score of every result, long format
    site/index.html             sortable leaderboard; site/tasks/*.html, site/models/*.html
    site/plots/*.png            the plots, embedded in the pages

Ranking follows MTEB's leaderboard (mteb 2.x `benchmarks/_create_table.py`): per task, models are
ranked by score (average rank for ties) and earn `n_models - rank` points; missing tasks earn 0;
the Borda rank is the rank of the point sums (`min` method). "Mean (Task)" is the mean over tasks
and "Mean (TaskType)" the mean of per-type means; both are empty when a model lacks a task (MTEB's
skipna=False). Only task types whose main score is "higher is better" model quality are ranked
(`RANKED_TYPES`); geometry, bias and index studies get descriptive tables. Retrieval jobs run with
an ANN index get their own column (`SciFact [hnswlib]`) and stay out of the overall ranking, which
uses the exact (or index-free) job of each task.

Plots specific to a task family live in `tasks/plots/<family>.py` as `plot_<name>(results,
result_paths, out_dir) -> list[Path]`; `FAMILY_PLOTS` maps a task type to such modules (a missing
module is skipped). Each is called once per task with that task's results. Where a family offers
no plot functions, the generic plots in `harness/report_plots.py` cover it.
"""
from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import html
import importlib
import io
import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import HarnessError
from .results import iter_results, safe_name

# Task types whose main score measures model quality, higher is better: ranked (MTEB Borda).
RANKED_TYPES = ("sts", "retrieval", "classification", "clustering", "word-similarity", "pair-classification",
                "reranking", "summarization", "bitext-mining", "multilabel-classification")
EXACT_INDEXES = (None, "exact", "flat")

# task type -> family plot modules ("module" = every plot_* in it, or "module:function").
FAMILY_PLOTS: dict[str, list[str]] = {
    "sts": ["tasks.plots.sts"],
    "word-similarity": ["tasks.plots.word_similarity"],
    "retrieval": ["tasks.plots.retrieval"],
    "classification": ["tasks.plots.classification"],
    "clustering": ["tasks.plots.clustering", "tasks.plots.classification"],
    "intrinsic-dimension": ["tasks.plots.geometry"],
    "spectrum": ["tasks.plots.geometry"],
    "bias": ["tasks.plots.bias"],
    "hnsw-order": ["tasks.plots.hnsw_order", "tasks.plots.hnsw"],
    "ranking-shift": ["tasks.plots.hnsw_order", "tasks.plots.ranking_shift", "tasks.plots.hnsw:plot_ranking_shift"],
}

TYPE_TITLES = {"sts": "STS", "word-similarity": "Word similarity", "retrieval": "Retrieval",
               "classification": "Classification", "clustering": "Clustering",
               "intrinsic-dimension": "Intrinsic dimension", "spectrum": "Spectrum", "bias": "Bias",
               "hnsw-order": "HNSW insertion order", "ranking-shift": "Ranking shift (exact vs HNSW)",
               "pair-classification": "Pair classification"}


def type_title(task_type: str) -> str:
    return TYPE_TITLES.get(task_type, task_type)


SITE_MARKER = ".harness-report"   # a site folder holding this file was made here and may be replaced


# --------------------------------------------------------------------------------------------- loading
@dataclass
class Entry:
    """One result file."""
    path: Path
    result: dict
    rel: str = ""            # path relative to the results folder (shown as provenance)

    @property
    def model(self) -> str:
        return str(self.result.get("model"))

    @property
    def task(self) -> str:
        return str(self.result.get("task"))

    @property
    def task_type(self) -> str:
        return str(self.result.get("task_type") or "unknown")

    @property
    def index(self) -> str | None:
        return index_name(self.result.get("index"))

    @property
    def ok(self) -> bool:
        return self.result.get("status") == "ok" and is_number(self.result.get("main_score"))

    @property
    def main_score(self) -> float | None:
        return float(self.result["main_score"]) if self.ok else None

    @property
    def column(self) -> str:
        """Table column: the task, plus the index when it is an ANN index."""
        return self.task if self.index in EXACT_INDEXES else f"{self.task} [{self.index}]"

    @property
    def in_overall(self) -> bool:
        return self.task_type in RANKED_TYPES and self.index in EXACT_INDEXES


def index_name(index) -> str | None:
    if index is None:
        return None
    if isinstance(index, dict):
        return str(index.get("name")) if index.get("name") is not None else "index"
    return str(index)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def load_entries(results_dir: str | os.PathLike) -> tuple[list[Entry], list[str]]:
    """Every result under a folder (or one result file); duplicates of a (model, task, index) keep
    the newest. Returns the entries and notes for the reader."""
    root = Path(results_dir)
    if not root.exists():
        raise HarnessError(f"results folder not found: {root}")
    if root.is_file():
        from .results import read_result
        obj = read_result(root)
        if not obj or "task" not in obj or "model" not in obj:
            raise HarnessError(f"{root}: not a result file (a JSON object with 'task' and 'model')")
        pairs = [(root, obj)]
        base = root.parent
    else:
        pairs = list(iter_results(root))
        base = root
    if not pairs:
        raise HarnessError(f"no result files under {root} (expected <model>/<task>.json from `run.py run`)")
    notes: list[str] = []
    chosen: dict[tuple, Entry] = {}
    for path, obj in pairs:
        e = Entry(path, obj, str(path.relative_to(base)) if path.is_relative_to(base) else str(path))
        key = (e.model, e.task, e.index)
        old = chosen.get(key)
        if old is not None:
            keep, drop = sorted((old, e), key=lambda x: str(x.result.get("created_at") or ""), reverse=True)
            notes.append(f"{e.model} / {e.column}: two result files ({keep.rel}, {drop.rel}); kept the newer "
                         f"{keep.rel}")
            chosen[key] = keep
        else:
            chosen[key] = e
    entries = sorted(chosen.values(), key=lambda x: (x.task_type, x.task, x.index or "", x.model))
    for e in entries:
        if e.result.get("status") == "ok" and not e.ok:
            notes.append(f"{e.model} / {e.column}: status ok but no finite main score; shown as missing")
    return entries, notes


# ---------------------------------------------------------------------------------------------- tables
@dataclass
class Table:
    title: str
    key: str                       # file stem: "overall" or the task type
    ranked: bool
    columns: list[str]             # value columns after "Model" (and the rank columns)
    rows: list[dict]               # each: {"Model": name, column: value | None | "error", ...}
    percent: bool = True           # show values x 100 (fractions) in Markdown / HTML
    column_tasks: dict[str, str] = field(default_factory=dict)   # column -> task name (for links)
    note: str = ""


def borda(scores: dict[str, dict[str, float | None]], columns: list[str]) -> dict[str, tuple[float, int]]:
    """MTEB's Borda count: per column, `n - rank` (rank 1 = best, ties averaged, missing earns 0);
    returns model -> (points, rank), rank by points with the `min` method."""
    models = list(scores)
    n = len(models)
    points = {m: 0.0 for m in models}
    for col in columns:
        present = [(m, scores[m].get(col)) for m in models if is_number(scores[m].get(col))]
        for m, v in present:
            better = sum(1 for _, w in present if w > v)
            ties = sum(1 for _, w in present if w == v)
            rank = better + (ties + 1) / 2.0          # average rank among equals, 1-based
            points[m] += n - rank
    ranks = {m: 1 + sum(1 for o in models if points[o] > points[m]) for m in models}
    return {m: (points[m], ranks[m]) for m in models}


def _mean_strict(values: list) -> float | None:
    """Mean when every value is present (MTEB's skipna=False), else None."""
    if not values or not all(is_number(v) for v in values):
        return None
    return float(sum(values) / len(values))


def build_tables(entries: list[Entry]) -> list[Table]:
    by_type: dict[str, list[Entry]] = {}
    for e in entries:
        by_type.setdefault(e.task_type, []).append(e)
    ordered_types = [t for t in RANKED_TYPES if t in by_type] + sorted(t for t in by_type if t not in RANKED_TYPES)
    tables: list[Table] = []
    type_columns: dict[str, list[str]] = {}
    for t in ordered_types:
        group = by_type[t]
        columns = _unique([e.column for e in sorted(group, key=lambda e: (e.task, e.index not in EXACT_INDEXES,
                                                                         e.index or ""))])
        values = _value_matrix(group)
        ranked = t in RANKED_TYPES
        col_tasks = {e.column: e.task for e in group}
        if ranked:
            type_columns[t] = [c for c in columns if any(e.column == c and e.in_overall for e in group)]
            rows = _ranked_rows(values, columns, type_columns[t], mean_label="Mean")
            note = ("columns with an index in brackets use that ANN index and are not part of the rank or the "
                    "mean" if len(type_columns[t]) < len(columns) else "")
            tables.append(Table(t, t, True, ["Mean"] + columns, rows, True, col_tasks, note))
        else:
            mains = {e.column: e.result.get("main_score_name") for e in group}
            labels = {c: f"{c} ({mains[c]})" if mains.get(c) else c for c in columns}
            rows = [{"Model": m, **{labels[c]: v.get(c) for c in columns}} for m, v in values.items()]
            rows.sort(key=lambda r: r["Model"])
            tables.append(Table(t, t, False, [labels[c] for c in columns], rows, False,
                                {labels[c]: col_tasks[c] for c in columns},
                                "descriptive figures (not a quality ranking): main score of each task"))
    overall = _overall_table(entries, type_columns)
    return ([overall] if overall else []) + tables


def _unique(items):
    return list(dict.fromkeys(items))


def _value_matrix(group: list[Entry]) -> dict[str, dict[str, object]]:
    values: dict[str, dict[str, object]] = {}
    for e in group:
        values.setdefault(e.model, {})[e.column] = e.main_score if e.ok else (
            "error" if e.result.get("status") == "error" else None)
    return values


def _numeric(values: dict[str, dict[str, object]]) -> dict[str, dict[str, float | None]]:
    return {m: {c: (v if is_number(v) else None) for c, v in row.items()} for m, row in values.items()}


def _ranked_rows(values, columns, rank_columns, mean_label) -> list[dict]:
    nums = _numeric(values)
    ranks = borda(nums, rank_columns)
    rows = []
    for m, row in values.items():
        rows.append({"Rank (Borda)": ranks[m][1], "Model": m, "Borda count": ranks[m][0],
                     mean_label: _mean_strict([nums[m].get(c) for c in rank_columns]),
                     **{c: row.get(c) for c in columns}})
    rows.sort(key=lambda r: (r["Rank (Borda)"], r["Model"]))
    return rows


def _overall_table(entries: list[Entry], type_columns: dict[str, list[str]]) -> Table | None:
    overall = [e for e in entries if e.in_overall]
    if not overall:
        return None
    nums = _numeric(_value_matrix(overall))
    columns = [c for t in type_columns for c in type_columns[t]]
    for m in {e.model for e in entries if e.task_type in RANKED_TYPES} - set(nums):
        nums[m] = {}   # a model with only ANN-index jobs still gets a row
    ranks = borda(nums, columns)
    rows = []
    for m, row in nums.items():
        type_means = {t: _mean_strict([row.get(c) for c in cols]) for t, cols in type_columns.items()}
        rows.append({"Rank (Borda)": ranks[m][1], "Model": m, "Borda count": ranks[m][0],
                     "Mean (Task)": _mean_strict([row.get(c) for c in columns]),
                     "Mean (TaskType)": _mean_strict(list(type_means.values())),
                     **type_means})
    rows.sort(key=lambda r: (r["Rank (Borda)"], r["Model"]))
    return Table("overall", "overall", True, ["Mean (Task)", "Mean (TaskType)"] + list(type_columns), rows, True,
                 note=f"ranked over {len(columns)} task(s) of type(s) {', '.join(type_columns)}; "
                      "a mean is empty when the model lacks a task (as MTEB)")


def table_header(t: Table) -> list[str]:
    return (["Rank (Borda)", "Model", "Borda count"] if t.ranked else ["Model"]) + t.columns


def table_csv(t: Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = table_header(t)
    w.writerow(header)
    for r in t.rows:
        w.writerow(["" if r.get(h) is None else (repr(r[h]) if isinstance(r[h], float) else r[h]) for h in header])
    return buf.getvalue()


def format_value(v, percent: bool, column: str = "") -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if column == "Rank (Borda)":
        return str(int(v))
    if column == "Borda count":
        return f"{v:g}"
    return f"{v * 100:.2f}" if percent else f"{v:.4g}"


def md_escape(text: str) -> str:
    """Names as literal text in Markdown (GitHub renders raw HTML tags otherwise)."""
    text = html.escape(str(text), quote=False)
    for ch in "\\`*_[]|#":
        text = text.replace(ch, "\\" + ch)
    return text


def table_markdown(t: Table) -> str:
    header = table_header(t)
    shown = [type_title(h) if t.key == "overall" and h in t.columns[2:] else h for h in header]
    lines = ["| " + " | ".join(md_escape(h) for h in shown) + " |",
             "|" + "|".join("---:" if h not in ("Model",) else "---" for h in header) + "|"]
    for r in t.rows:
        lines.append("| " + " | ".join(md_escape(format_value(r.get(h), t.percent, h)) for h in header) + " |")
    return "\n".join(lines)


def scores_csv(entries: list[Entry]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", "task", "task_type", "index", "status", "metric", "value", "is_main", "result_file"])
    for e in entries:
        scores = e.result.get("scores") or {}
        if not scores:
            w.writerow([e.model, e.task, e.task_type, e.index or "", e.result.get("status"), "", "", "", e.rel])
        for k, v in flatten_scores(scores).items():
            w.writerow([e.model, e.task, e.task_type, e.index or "", e.result.get("status"), k,
                        repr(float(v)) if is_number(v) else v, k == e.result.get("main_score_name"), e.rel])
    return buf.getvalue()


def flatten_scores(scores: dict, prefix: str = "") -> dict[str, object]:
    """Nested score dicts become dotted names; lists are left out (per-query values belong in details)."""
    out = {}
    for k, v in scores.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_scores(v, name + "."))
        elif not isinstance(v, list):
            out[name] = v
    return out


# ----------------------------------------------------------------------------------------------- plots
def _family_functions(task_type: str) -> list[tuple[str, object]]:
    """(label, function) of every family plot function available for a task type."""
    targets = list(FAMILY_PLOTS.get(task_type, []))
    fallback = "tasks.plots." + task_type.replace("-", "_")
    if fallback not in targets:
        targets.append(fallback)
    found = []
    for target in targets:
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name and module_name.startswith(e.name):   # the module itself is absent: fine
                continue
            raise
        names = [attr] if attr else sorted(n for n in dir(module) if n.startswith("plot_"))
        for n in names:
            fn = getattr(module, n, None)
            if callable(fn) and (module_name, n) not in [(f.__module__, f.__name__) for _, f in found]:
                found.append((f"{module_name}:{n}", fn))
    return found


@dataclass
class PlotSet:
    by_task: dict[str, list[Path]] = field(default_factory=dict)
    by_model: dict[str, list[Path]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def render_plots(entries: list[Entry], plots_dir: Path) -> PlotSet:
    from . import report_plots as rp
    plots_dir.mkdir(parents=True, exist_ok=True)
    out = PlotSet()
    colors = rp.model_colors(sorted({e.model for e in entries}))
    tasks: dict[str, list[Entry]] = {}
    for e in entries:
        tasks.setdefault(e.task, []).append(e)
    for task, group in tasks.items():
        ok = [e for e in group if e.ok]
        paths: list[Path] = []
        task_type = group[0].task_type
        slug = page_slug(task)
        family = []
        try:
            family = _family_functions(task_type)
        except Exception as e:  # a broken family module must not stop the report
            out.warnings.append(f"plots for task type {task_type}: import failed: {type(e).__name__}: {e}")
        if ok:
            paths += _guarded(out, f"{task}: bars", rp.plot_task_bars, ok, plots_dir / f"bars-{slug}.png", colors)
            paths += _guarded(out, f"{task}: pareto", rp.plot_pareto, ok, plots_dir / f"pareto-{slug}.png", colors)
            family_made = []
            for label, fn in family:
                fam_dir = plots_dir / f"{slug}-family"
                fam_dir.mkdir(parents=True, exist_ok=True)
                family_made += _guarded(out, f"{task}: {label}", _call_family, fn, ok, fam_dir)
            paths += family_made
            if family and not any((plots_dir / f"{slug}-family").iterdir()):
                (plots_dir / f"{slug}-family").rmdir()
            if not family_made:   # the family draws nothing for these results: the generic plots do
                for kind, fn in (("recall-vs-ef", rp.plot_recall_vs_ef), ("lid", rp.plot_lid_histograms),
                                 ("spectrum", rp.plot_spectra), ("bias", rp.plot_effect_sizes)):
                    paths += _guarded(out, f"{task}: {kind}", fn, ok, plots_dir / f"{kind}-{slug}.png", colors)
        out.by_task[task] = paths
    for model in sorted({e.model for e in entries}):
        mine = [e for e in entries if e.model == model and e.ok and e.in_overall]
        if mine:
            out.by_model[model] = _guarded(out, f"{model}: profile", rp.plot_model_profile, model, mine,
                                           plots_dir / f"model-{page_slug(model)}.png", colors)
    return out


def _call_family(fn, entries: list[Entry], out_dir: Path) -> list[Path]:
    made = fn([e.result for e in entries], [e.path for e in entries], out_dir)
    return [Path(p) for p in (made or [])]


def _guarded(plots: PlotSet, what: str, fn, *args) -> list[Path]:
    """A plot that fails becomes a warning on the site, never a lost report."""
    try:
        made = fn(*args)
    except Exception as e:
        plots.warnings.append(f"plot {what} failed: {type(e).__name__}: {e}")
        return []
    if made is None:
        return []
    made = [made] if isinstance(made, (str, Path)) else list(made)
    return [Path(p) for p in made if Path(p).is_file()]


# ------------------------------------------------------------------------------------------ orchestrate
def page_slug(name: str) -> str:
    """A file name for a model or task page: readable, and unique even when two names sanitise alike."""
    return f"{safe_name(name)[:60]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


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


def make_report(results_dir: str | os.PathLike = "results", out_dir: str | os.PathLike = "reports",
                title: str = "Embedding benchmark leaderboard") -> Report:
    from . import __version__
    from .report_site import write_site
    entries, notes = load_entries(results_dir)
    out = Path(out_dir)
    site = out / "site"
    _prepare_site_dir(site)
    tables = build_tables(entries)
    plots = render_plots(entries, site / "plots")
    notes = notes + plots.warnings
    for e in entries:
        if e.result.get("status") == "error":
            notes.append(f"{e.model} / {e.column}: job failed: {e.result.get('error')}")

    tables_dir = out / "tables"
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
    csvs.append(p)

    generated = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    context = {"title": title, "generated": generated, "version": __version__, "results_dir": str(results_dir),
               "n_results": len(entries)}
    site_index, pages = write_site(site, entries, tables, plots, notes, context)
    md = out / "leaderboard.md"
    md.write_text(render_markdown(tables, plots, notes, context, md.parent, site), encoding="utf-8")
    all_plots = sorted({p for ps in list(plots.by_task.values()) + list(plots.by_model.values()) for p in ps})
    return Report(out, md, csvs, all_plots, site_index, pages, notes)


def render_markdown(tables: list[Table], plots: PlotSet, notes: list[str], context: dict, md_dir: Path,
                    site: Path) -> str:
    lines = [f"# {md_escape(context['title'])}", "",
             f"Generated {context['generated']} by harness {context['version']} from {context['n_results']} "
             f"result file(s) in `{context['results_dir']}`. Ranked scores are shown x 100; the CSV files in "
             "`tables/` hold the unrounded values. Browse `site/index.html` for per-task and per-model pages "
             "with provenance.", ""]
    for t in tables:
        lines += [f"## {md_escape('Overall' if t.key == 'overall' else type_title(t.key))}", ""]
        if t.note:
            lines += [f"_{md_escape(t.note)}_", ""]
        lines += [table_markdown(t), ""]
    task_plots = [(task, ps) for task, ps in plots.by_task.items() if ps]
    if task_plots:
        lines += ["## Plots", ""]
        for task, ps in task_plots:
            lines += [f"### {md_escape(task)}", ""]
            for p in ps:
                rel = os.path.relpath(p, md_dir).replace(os.sep, "/")
                lines.append(f"![{md_escape(p.stem)}]({rel})")
            lines.append("")
    if notes:
        lines += ["## Notes", ""] + [f"- {md_escape(n)}" for n in notes] + [""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ screenshot
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium() -> str | None:
    env = os.environ.get("HARNESS_CHROMIUM")
    for c in ([env] if env else []) + list(CHROMIUM_CANDIDATES):
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium_cmd(chromium: str, profile: str) -> list[str]:
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={profile}"]


def run_chromium(args: list[str], *, chromium: str | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    chromium = chromium or find_chromium()
    if not chromium:
        raise HarnessError("no Chromium found (looked for /usr/bin/chromium; set HARNESS_CHROMIUM to its path)")
    with tempfile.TemporaryDirectory(prefix="harness-chromium-") as tmp:
        env = {**os.environ, "HOME": tmp}
        return subprocess.run(_chromium_cmd(chromium, os.path.join(tmp, "profile")) + args, env=env,
                              capture_output=True, text=True, timeout=timeout)


def screenshot(page: str | os.PathLike, png: str | os.PathLike, *, width: int = 1280, height: int = 1000,
               chromium: str | None = None) -> Path:
    """A headless-Chromium PNG of a local page (the site works from file://, no server)."""
    page, png = Path(page).resolve(), Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    proc = run_chromium([f"--screenshot={png}", f"--window-size={width},{height}", page.as_uri()],
                        chromium=chromium)
    if proc.returncode != 0 or not png.is_file():
        raise HarnessError(f"chromium screenshot of {page} failed (exit {proc.returncode}): {proc.stderr[-500:]}")
    return png


def dump_dom(page: str | os.PathLike, *, chromium: str | None = None) -> str:
    """The page's DOM after its scripts ran, serialised by Chromium."""
    proc = run_chromium(["--dump-dom", Path(page).resolve().as_uri()], chromium=chromium)
    if proc.returncode != 0:
        raise HarnessError(f"chromium --dump-dom failed (exit {proc.returncode}): {proc.stderr[-500:]}")
    return proc.stdout


def print_summary(rep: Report, stream=None) -> None:
    stream = stream or sys.stdout
    print(f"leaderboard: {rep.markdown}", file=stream)
    print(f"tables:      {', '.join(str(p) for p in rep.csvs)}", file=stream)
    print(f"plots:       {len(rep.plots)} PNG file(s) in {rep.site_index.parent / 'plots'}", file=stream)
    print(f"site:        {rep.site_index} ({len(rep.pages)} page(s); open it in a browser, no server needed)",
          file=stream)
    for n in rep.notes:
        print(f"note: {n}", file=stream)
