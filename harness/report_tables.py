"""Leaderboard tables: MTEB Borda ranking, CSV and Markdown.

Ranking follows MTEB's leaderboard (mteb 2.x `benchmarks/_create_table.py`): per task, models are
ranked by score (average rank for ties) and earn `n_models - rank` points; missing tasks earn 0;
the Borda rank is the rank of the point sums (`min` method). "Mean (Task)" is the mean over tasks
and "Mean (TaskType)" the mean of per-type means; both are empty when a model lacks a task (MTEB's
skipna=False). A task type is ranked when its results declare `ranked`; otherwise its table is
descriptive. A job run with an approximate index gets its own column (`SciFact [hnswlib]`) outside
the rank and the means, which use the exact (or index-free) job of each task.

One table per task type, titled by the declared title; ranked types first, each group ordered by
title (no task type is known here by name). A descriptive type whose tasks ran several points of one
index (an index sweep: one result per build point) is a long table, one row per (model, task, index
point), rather than a column per point.
"""
from __future__ import annotations

import csv
import html
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from .report_entries import Entry, TaskType
from .report_fields import flatten_scores, is_number, natural_key


@dataclass
class Table:
    title: str
    key: str                       # file stem: "overall" or the task type
    ranked: bool
    columns: list[str]             # value columns after "Model" (and the rank columns)
    rows: list[dict]               # each: {"Model": label, column: value | None | "error", ...}
    percent: bool = True           # show values x 100 (fractions) in Markdown / HTML
    column_tasks: dict[str, str] = field(default_factory=dict)    # column -> task name (for links)
    column_titles: dict[str, str] = field(default_factory=dict)   # column -> shown header (overall: type titles)
    lower_better: set[str] = field(default_factory=set)           # ranked columns where lower is better
    note: str = ""
    text_columns: set[str] = field(default_factory=set)           # columns of names, not numbers
    # report_significance: (model, column) -> its 95% interval; (model, column) not separable from the best
    intervals: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    marked: set[tuple[str, str]] = field(default_factory=set)

    def header_label(self, column: str) -> str:
        return self.column_titles.get(column, column)


def borda(scores: dict[str, dict[str, float | None]], columns: list[str],
          lower_better: set[str] = frozenset()) -> dict[str, tuple[float, int]]:
    """MTEB's Borda count: per column, `n - rank` (rank 1 = best, ties averaged, missing earns 0);
    returns model -> (points, rank), rank by points with the `min` method."""
    models = list(scores)
    n = len(models)
    points = {m: 0.0 for m in models}
    for col in columns:
        sign = -1.0 if col in lower_better else 1.0
        present = [(m, sign * scores[m][col]) for m in models if is_number(scores[m].get(col))]
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


def build_tables(entries: list[Entry], types: dict[str, TaskType]) -> list[Table]:
    by_type: dict[str, list[Entry]] = {}
    for e in entries:
        by_type.setdefault(e.task_type, []).append(e)
    ordered = sorted(by_type, key=lambda t: (not types[t].ranked, types[t].title.lower(), t))
    tables: list[Table] = []
    type_columns: dict[str, list[str]] = {}
    lower: set[str] = set()
    for t in ordered:
        group, title = by_type[t], types[t].title
        columns = list(dict.fromkeys(e.column for e in sorted(group, key=lambda e: (e.task, not e.exact,
                                                                                  e.index_label or ""))))
        values = _value_matrix(group)
        col_tasks = {e.column: e.task for e in group}
        if types[t].ranked:
            type_columns[t] = [c for c in columns if any(e.column == c and e.in_overall for e in group)]
            lower |= {e.column for e in group if e.lower_is_better}
            rows = _ranked_rows(values, columns, type_columns[t], lower)
            note = ("columns with an index in brackets use that approximate index and are not part of the rank "
                    "or the mean" if len(type_columns[t]) < len(columns) else "")
            tables.append(Table(title, t, True, ["Mean"] + columns, rows, True, col_tasks,
                                lower_better={c for c in columns if c in lower}, note=note))
        elif _sweeps_points(group):
            tables.append(_long_table(group, title, t))
        else:
            mains = {e.column: e.result.get("main_score_name") for e in group}
            labels = {c: f"{c} ({mains[c]})" if mains.get(c) else c for c in columns}
            rows = [{"Model": m, **{labels[c]: v.get(c) for c in columns}} for m, v in values.items()]
            rows.sort(key=lambda r: r["Model"])
            tables.append(Table(title, t, False, [labels[c] for c in columns], rows, False,
                                {labels[c]: col_tasks[c] for c in columns},
                                note="descriptive figures (not a quality ranking): main score of each task"))
    overall = _overall_table(entries, type_columns, types, lower)
    return ([overall] if overall else []) + tables


def _sweeps_points(group: list[Entry]) -> bool:
    """Some task of the group ran several points of one index."""
    seen: dict[tuple, set] = {}
    for e in group:
        seen.setdefault((e.task, e.index), set()).add(e.index_point)
    return any(len(points) > 1 for points in seen.values())


def _long_table(group: list[Entry], title: str, key: str) -> Table:
    rows = [{"Model": e.model, "Task": e.task, "Index": e.index_label or "", "Score": e.result.get("main_score_name"),
             "Value": e.main_score if e.ok else ("error" if e.result.get("status") == "error" else None)}
            for e in sorted(group, key=lambda e: (e.task, e.model, e.index or "", natural_key(e.index_label)))]
    return Table(title, key, False, ["Task", "Index", "Score", "Value"], rows, False,
                 text_columns={"Task", "Index", "Score"},
                 note="descriptive figures (not a quality ranking): main score of each task and index point; "
                      "the task pages hold the task's own tables and plots")


def _value_matrix(group: list[Entry]) -> dict[str, dict[str, object]]:
    values: dict[str, dict[str, object]] = {}
    for e in group:
        values.setdefault(e.model, {})[e.column] = e.main_score if e.ok else (
            "error" if e.result.get("status") == "error" else None)
    return values


def _numeric(values: dict[str, dict[str, object]]) -> dict[str, dict[str, float | None]]:
    return {m: {c: (v if is_number(v) else None) for c, v in row.items()} for m, row in values.items()}


def _ranked_rows(values, columns, rank_columns, lower: set[str]) -> list[dict]:
    nums = _numeric(values)
    ranks = borda(nums, rank_columns, lower)
    rows = []
    for m, row in values.items():
        rows.append({"Rank (Borda)": ranks[m][1], "Model": m, "Borda count": ranks[m][0],
                     "Mean": _mean_strict([nums[m].get(c) for c in rank_columns]),
                     **{c: row.get(c) for c in columns}})
    rows.sort(key=lambda r: (r["Rank (Borda)"], r["Model"]))
    return rows


def _overall_table(entries: list[Entry], type_columns: dict[str, list[str]], types: dict[str, TaskType],
                   lower: set[str]) -> Table | None:
    overall = [e for e in entries if e.in_overall]
    if not overall:
        return None
    nums = _numeric(_value_matrix(overall))
    columns = [c for t in type_columns for c in type_columns[t]]
    for m in {e.model for e in entries if e.ranked} - set(nums):
        nums[m] = {}   # a model with only approximate-index jobs still gets a row
    ranks = borda(nums, columns, lower)
    rows = []
    for m, row in nums.items():
        type_means = {t: _mean_strict([row.get(c) for c in cols]) for t, cols in type_columns.items()}
        rows.append({"Rank (Borda)": ranks[m][1], "Model": m, "Borda count": ranks[m][0],
                     "Mean (Task)": _mean_strict([row.get(c) for c in columns]),
                     "Mean (TaskType)": _mean_strict(list(type_means.values())),
                     **type_means})
    rows.sort(key=lambda r: (r["Rank (Borda)"], r["Model"]))
    return Table("Overall", "overall", True, ["Mean (Task)", "Mean (TaskType)"] + list(type_columns), rows, True,
                 column_titles={t: types[t].title for t in type_columns},
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
    lines = ["| " + " | ".join(md_escape(t.header_label(h)) for h in header) + " |",
             "|" + "|".join("---:" if h != "Model" and h not in t.text_columns else "---" for h in header) + "|"]
    for r in t.rows:
        lines.append("| " + " | ".join(cell_markdown(t, r, h) for h in header) + " |")
    return "\n".join(lines)


def cell_markdown(t: Table, row: dict, column: str) -> str:
    """A cell as Markdown: the value, its interval when known, bold when marked."""
    v = row.get(column)
    text = format_value(v, t.percent, column)
    key = (row.get("Model"), column)
    if key in t.intervals and is_number(v):
        lo, hi = t.intervals[key]
        text += f" [{format_value(lo, t.percent)}, {format_value(hi, t.percent)}]"
    text = md_escape(text)
    return f"**{text}**" if key in t.marked and text else text


def scores_csv(entries: list[Entry]) -> str:
    """Every score of every result, long format; `source` says whose it is (yours or published)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", "task", "task_type", "index", "status", "metric", "value", "is_main", "result_file",
                "source"])
    for e in entries:
        source = "published" if e.published else "results"
        scores = e.result.get("scores") or {}
        if not scores:
            w.writerow([e.model, e.task, e.task_type, e.index_label or "", e.result.get("status"), "", "", "", e.rel,
                        source])
        for k, v in flatten_scores(scores).items():
            w.writerow([e.model, e.task, e.task_type, e.index_label or "", e.result.get("status"), k,
                        repr(float(v)) if is_number(v) else v, k == e.result.get("main_score_name"), e.rel, source])
    return buf.getvalue()


def render_markdown(tables: list[Table], plots_by_task: dict[str, list[Path]], notes: list[str], context: dict,
                    md_dir: Path, extra: list[str] = ()) -> str:
    """The report; `extra`: Markdown lines placed after the leaderboard tables (the tasks' own tables)."""
    sources = f"{context['n_results']} result file(s) in `{context['results_dir']}`"
    if context.get("n_published"):
        sources += (f" and {context['n_published']} published result file(s) in `{context['published_dir']}` "
                    "(rows labelled \"(published)\")")
    lines = [f"# {md_escape(context['title'])}", "",
             f"Generated {context['generated']} by harness {context['version']} from {sources}. "
             "Ranked scores are shown x 100; the CSV files in `tables/` hold the unrounded values. Browse "
             "`site/index.html` for per-task and per-model pages with provenance.", ""]
    for t in tables:
        lines += [f"## {md_escape(t.title)}", ""]
        if t.note:
            lines += [f"_{md_escape(t.note)}_", ""]
        lines += [table_markdown(t), ""]
    lines += list(extra)
    task_plots = [(task, ps) for task, ps in plots_by_task.items() if ps]
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
