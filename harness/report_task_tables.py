"""Tables a task declares (`declared.tables`, "module:table_function"): called like its plots, shown in
the Markdown report, on the task's site page, and written as CSV (unrounded) under tables/tasks/.

Each function is called once per task with that task's ok results and their paths (the plot
signature minus out_dir): `table_x(results: list[dict], result_paths: list[Path]) -> list[dict]`, each
dict {"title": str, "columns": [str], "rows": [[cell, ...]], "note": str (optional)}; a cell is a
string, a number, a bool or None (shown empty). Only attributes named `table_*` are called. A failing
import or call, or a table not of that shape, becomes a warning note, never a lost report. Nothing
here knows a task.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

from .report_entries import Entry
from .report_fields import declared_function, is_number
from .report_tables import md_escape


@dataclass
class TaskTable:
    task: str
    title: str
    columns: list[str]
    rows: list[list]
    note: str = ""

    def numeric(self, j: int) -> bool:
        """Column j holds numbers only (None aside): right-aligned, sorted as numbers."""
        cells = [r[j] for r in self.rows if r[j] is not None]
        return bool(cells) and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in cells)


@dataclass
class TaskTables:
    by_task: dict[str, list[TaskTable]] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)   # task -> why a table is missing

    @property
    def warnings(self) -> list[str]:
        return [n for ns in self.failures.values() for n in ns]


def declared_tables(group: list[Entry]) -> list[str]:
    """The table functions a task's results declare, in order, each once."""
    return list(dict.fromkeys(t for e in group for t in e.declared.tables))


def check_table(obj, task: str) -> TaskTable:
    """A returned table as a TaskTable, or a ValueError saying what is wrong with it."""
    if not isinstance(obj, dict):
        raise ValueError(f"a table is a dict with title, columns, rows, note; got {type(obj).__name__}")
    title, columns, rows, note = obj.get("title"), obj.get("columns"), obj.get("rows"), obj.get("note", "")
    if not isinstance(title, str) or not isinstance(note, (str, type(None))):
        raise ValueError("title and note must be strings")
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise ValueError(f"table {title!r}: columns must be a non-empty list of strings")
    if not isinstance(rows, list):
        raise ValueError(f"table {title!r}: rows must be a list of lists")
    for i, row in enumerate(rows):
        if not isinstance(row, (list, tuple)) or len(row) != len(columns):
            raise ValueError(f"table {title!r}: row {i} is not a list of {len(columns)} cells")
        for c, cell in zip(columns, row):
            if not (cell is None or isinstance(cell, (str, int, float, bool))):
                raise ValueError(f"table {title!r}: row {i}, column {c!r}: a {type(cell).__name__} is not a cell "
                                 "(str, number, bool or None)")
    return TaskTable(task, title, list(columns), [list(r) for r in rows], note or "")


def render_task_tables(entries: list[Entry]) -> TaskTables:
    out = TaskTables()
    tasks: dict[str, list[Entry]] = {}
    for e in entries:
        if e.ok:
            tasks.setdefault(e.task, []).append(e)
    for task, ok in tasks.items():
        for target in declared_tables(ok):
            try:
                fn = declared_function(target, "table_")
                made = fn([e.plot_result for e in ok], [e.path for e in ok])
                tables = [check_table(t, task) for t in (made or [])]
            except Exception as exc:   # noqa: BLE001  (a broken table must not stop the report)
                out.failures.setdefault(task, []).append(
                    f"table {target} for {task} failed: {type(exc).__name__}: {exc}")
                continue
            out.by_task.setdefault(task, []).extend(tables)
    return out


def cell_text(v) -> str:
    """A cell as shown: 4 significant digits, whole numbers from 10,000 up."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.0f}" if abs(v) >= 1e4 else f"{v:.4g}"
    return str(v)


def table_markdown(t: TaskTable) -> str:
    numeric = [t.numeric(j) for j in range(len(t.columns))]
    lines = ["| " + " | ".join(md_escape(c) for c in t.columns) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(md_escape(cell_text(v)) for v in row) + " |" for row in t.rows]
    return "\n".join(lines)


def markdown_lines(tables: TaskTables) -> list[str]:
    """The Markdown report's section of task tables (nothing when no task declares one)."""
    if not any(tables.by_task.values()):
        return []
    lines = ["## Task tables", ""]
    for task, ts in tables.by_task.items():
        for t in ts:
            lines += [f"### {md_escape(task)}: {md_escape(t.title)}", ""]
            if t.note:
                lines += [f"_{md_escape(t.note)}_", ""]
            lines += [table_markdown(t) if t.rows else "_(no rows)_", ""]
    return lines


def table_csv(t: TaskTable) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(t.columns)
    for row in t.rows:
        w.writerow(["" if v is None else (repr(v) if isinstance(v, float) else v) for v in row])
    return buf.getvalue()


def site_view(t: TaskTable) -> dict:
    """The table as the site's `table` macro draws it (autoescaped there); numbers sort as numbers."""
    numeric = [t.numeric(j) for j in range(len(t.columns))]
    heads = [{"label": c, "type": "num" if n else "text", "cls": "" if n else "txt", "href": None}
             for c, n in zip(t.columns, numeric)]
    rows = []
    for row in t.rows:
        rows.append({"cls": "", "cells": [
            {"text": cell_text(v), "cls": "" if n else "txt", "href": None, "tag": None,
             "sort": repr(float(v)) if is_number(v) else ("" if n else None)} for v, n in zip(row, numeric)]})
    return {"title": t.title, "note": t.note, "headers": heads, "rows": rows}
