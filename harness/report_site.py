"""The static leaderboard site: pages from Jinja2 templates (harness/templates/), one small script, no
CDN; works from file://.

The templates are rendered with autoescaping on, so every name and value from a result file is
text (a model called `<script>alert(1)</script>` shows as those characters). This module only turns
entries, tables and plots into plain values (labels, links, sort keys); the markup is in the
templates. Page file names come from `page_slug` (safe characters plus a hash), never from raw
names. Sorting only reorders existing rows (no innerHTML).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from .report_entries import Entry, page_slug
from .report_fields import flatten_scores, is_number
from .report_figures import PlotSet
from .report_tables import Table, format_value, table_header
from .report_task_tables import TaskTables, site_view

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _environment():
    import jinja2
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _cell(text, *, cls: str = "", sort=None, href: str | None = None, tag: str | None = None,
          ci: str | None = None) -> dict:
    return {"text": text, "cls": cls, "sort": sort, "href": href, "tag": tag, "ci": ci}


def _head(label, *, numeric: bool = True, cls: str = "", href: str | None = None) -> dict:
    return {"label": label, "type": "num" if numeric else "text", "cls": cls, "href": href}


MISSING = {"text": "–", "cls": "missing", "sort": "", "href": None, "tag": None, "ci": None}


class Site:
    def __init__(self, root: Path, entries: list[Entry], tables: list[Table], plots: PlotSet, notes: list[str],
                 context: dict, task_tables: TaskTables | None = None):
        self.root, self.entries, self.tables, self.plots, self.notes, self.ctx = root, entries, tables, plots, notes, context
        self.task_tables = task_tables or TaskTables()
        self.significance: dict | None = None
        self.models = sorted({e.model for e in entries})
        self.tasks = sorted({e.task for e in entries})
        self.published = {e.model for e in entries if e.published}
        self.env = _environment()

    # -- links --------------------------------------------------------------------------------
    def model_href(self, model: str, depth: int) -> str:
        return "../" * depth + f"models/{page_slug(model)}.html"

    def task_href(self, task: str, depth: int) -> str:
        return "../" * depth + f"tasks/{page_slug(task)}.html"

    def figures(self, paths: list[Path], page_dir: Path) -> list[dict]:
        return [{"href": os.path.relpath(p, page_dir).replace(os.sep, "/"), "name": p.stem} for p in paths]

    def render(self, template: str, page_title: str, depth: int, **values) -> str:
        return self.env.get_template(template).render(page_title=page_title, up="../" * depth, site=self.ctx,
                                                      **values)

    def row_class(self, model: str) -> str:
        return "published" if model in self.published else ""

    # -- tables -------------------------------------------------------------------------------
    def table_view(self, t: Table, depth: int) -> dict:
        header = table_header(t)
        best = {}
        for h in t.columns:
            vals = [r.get(h) for r in t.rows if is_number(r.get(h))]
            if t.ranked and vals and len(t.rows) > 1:
                best[h] = min(vals) if h in t.lower_better else max(vals)
        heads = []
        for h in header:
            href = None
            if t.key == "overall" and h in t.column_titles:
                href = f"#{page_slug(h)}"
            elif h in t.column_tasks:
                href = self.task_href(t.column_tasks[h], depth)
            text = h == "Model" or h in t.text_columns
            cls = "name" if h == "Model" else "txt" if text else ""
            heads.append(_head(t.header_label(h), numeric=not text, cls=cls, href=href))
        rows = []
        for r in t.rows:
            cells = []
            for h in header:
                v = r.get(h)
                if h == "Model":
                    cells.append(_cell(v, cls="name tied" if (v, h) in t.marked else "name",
                                       href=self.model_href(v, depth)))
                elif h in t.text_columns:   # a long table's Task cell opens the task's page
                    href = self.task_href(v, depth) if h == "Task" and v in self.tasks else None
                    cells.append(_cell(v, cls="txt", href=href))
                elif v == "error":
                    cells.append(_cell("error", cls="err", sort=""))
                elif v is None:
                    cells.append(MISSING)
                else:
                    key = (r.get("Model"), h)
                    cls = " ".join(c for c in ("best" if h in best and v == best[h] else "",
                                               "tied" if key in t.marked else "") if c)
                    ci = t.intervals.get(key)
                    cells.append(_cell(format_value(v, t.percent, h), cls=cls, sort=repr(float(v)),
                                       ci=f"[{format_value(ci[0], t.percent)}, {format_value(ci[1], t.percent)}]"
                                       if ci else None))
            rows.append({"cls": self.row_class(r.get("Model")), "cells": cells})
        note = "; ".join(x for x in (t.note, "scores x 100" if t.percent and t.ranked else "") if x)
        return {"id": page_slug(t.key), "title": "Overall leaderboard" if t.key == "overall" else t.title,
                "note": note, "headers": heads, "rows": rows}

    def task_list_view(self) -> dict:
        heads = [_head("task", numeric=False, cls="name"), _head("type", numeric=False, cls="txt"),
                 _head("main score", numeric=False, cls="txt"), _head("models")]
        rows = []
        for task in self.tasks:
            group = [e for e in self.entries if e.task == task]
            rows.append({"cls": "", "cells": [
                _cell(task, cls="name", href=self.task_href(task, 0)), _cell(group[0].type_title, cls="txt"),
                _cell(group[0].result.get("main_score_name"), cls="txt"), _cell(len({e.model for e in group}))]})
        return {"note": "", "headers": heads, "rows": rows}

    # -- provenance ---------------------------------------------------------------------------
    def provenance(self, e: Entry, heading: str) -> dict:
        r = e.result
        ds = r.get("dataset") if isinstance(r.get("dataset"), dict) else {}
        try:
            digest = hashlib.sha256(e.path.read_bytes()).hexdigest()
        except OSError:
            digest = "unreadable"
        timings = r.get("timings_s") if isinstance(r.get("timings_s"), dict) else {}
        versions = r.get("versions") if isinstance(r.get("versions"), dict) else {}
        source = self.ctx["published_dir"] if e.published else self.ctx["results_dir"]
        return {"heading": heading, "rel": e.rel, "digest": digest, "job_key": r.get("job_key"),
                "source": ("published results, " if e.published else "your results, ") + str(source),
                "status": r.get("status"), "created": r.get("created_at"), "task": r.get("task"),
                "task_version": r.get("task_version"), "task_type": r.get("task_type"), "split": r.get("split"),
                "main": r.get("main_score_name"), "model": r.get("model"), "revision": r.get("model_revision"),
                "seed": r.get("seed"), "params": json.dumps(r.get("params"), sort_keys=True),
                "index": json.dumps(r.get("index"), sort_keys=True) if r.get("index") is not None else None,
                "index_stats": json.dumps(r.get("index_stats"), sort_keys=True) if r.get("index_stats") else None,
                "dataset": (f"{ds.get('path')} ({ds.get('source', 'local')})" if ds.get("sha256") else str(ds.get("path"))),
                "dataset_files": sorted((ds.get("sha256") or {}).items()),
                "versions": ", ".join(f"{k} {v}" for k, v in versions.items() if v is not None),
                "timings": ", ".join(f"{k} {v:.3g}" for k, v in timings.items() if is_number(v)),
                "error": r.get("error")}

    # -- pages --------------------------------------------------------------------------------
    def index_page(self) -> str:
        return self.render("index.html", self.ctx["title"], 0, n_models=len(self.models), n_tasks=len(self.tasks),
                           tables=[self.table_view(t, 0) for t in self.tables], task_list=self.task_list_view(),
                           models=[{"name": m, "href": self.model_href(m, 0), "published": m in self.published}
                                   for m in self.models], notes=self.notes, significance=self.significance)

    def task_page(self, task: str) -> str:
        group = [e for e in self.entries if e.task == task]
        first = group[0]
        metrics = []
        for e in group:
            for k, v in flatten_scores(e.result.get("scores")).items():
                if is_number(v) and k not in metrics:
                    metrics.append(k)
        main = first.result.get("main_score_name")
        metrics.sort(key=lambda k: (k != main, k))
        heads = [_head("model", numeric=False, cls="name"), _head("index", numeric=False, cls="txt"),
                 _head("status", numeric=False, cls="txt")] + [_head(k) for k in metrics]
        rows = []
        sign = 1 if first.lower_is_better else -1
        for e in sorted(group, key=lambda e: (sign * e.main_score if e.ok else 1e300, e.model, e.index_label or "")):
            scores = flatten_scores(e.result.get("scores"))
            status = e.result.get("status")
            cells = [_cell(e.model, cls="name", href=self.model_href(e.model, 1)),
                     _cell(e.index_label or "–", cls="txt"),
                     _cell(status, cls="txt" + (" err" if status != "ok" else ""))]
            cells += [_cell(f"{scores[k]:.5g}", sort=repr(float(scores[k]))) if is_number(scores.get(k)) else MISSING
                      for k in metrics]
            rows.append({"cls": self.row_class(e.model), "cells": cells})
        blocks = [self.provenance(e, e.model + (f" / {e.index_label}" if e.index_label else ""))
                  for e in sorted(group, key=lambda e: (e.model, e.index_label or ""))]
        return self.render("task.html", f"{task} — {self.ctx['title']}", 1, task=task, type_title=first.type_title,
                           task_type=first.task_type, split=first.result.get("split"), main=main, ranked=first.ranked,
                           scores={"note": "", "headers": heads, "rows": rows},
                           task_tables=[site_view(t) for t in self.task_tables.by_task.get(task, [])],
                           table_notes=self.task_tables.failures.get(task, []),
                           plots=self.figures(self.plots.by_task.get(task, []), self.root / "tasks"),
                           provenance_blocks=blocks)

    def model_page(self, model: str) -> str:
        group = [e for e in self.entries if e.model == model]
        rev = next((e.result.get("model_revision") for e in group if e.result.get("model_revision")), None)
        overall = None
        for t in self.tables:
            row = next((r for r in t.rows if r.get("Model") == model), None)
            if row is not None and t.key == "overall":
                overall = {"rank": row["Rank (Borda)"], "of": len(t.rows),
                           "mean": format_value(row.get("Mean (Task)"), True) or "–"}
        heads = [_head("task", numeric=False, cls="name"), _head("type", numeric=False, cls="txt"),
                 _head("index", numeric=False, cls="txt"), _head("main score", numeric=False, cls="txt"),
                 _head("value"), _head("rank in task")]
        rows = []
        for e in sorted(group, key=lambda e: (e.type_title, e.task, e.index_label or "")):
            peers = [x.main_score for x in self.entries
                     if x.task == e.task and x.index_point == e.index_point and x.ok]
            rank = None
            if e.ok and e.ranked:
                rank = 1 + sum(1 for v in peers if (v < e.main_score if e.lower_is_better else v > e.main_score))
            value = (_cell(f"{e.main_score:.5f}", sort=repr(e.main_score)) if e.ok else
                     _cell(e.result.get("status"), cls="err", sort=""))
            rows.append({"cls": "", "cells": [
                _cell(e.task, cls="name", href=self.task_href(e.task, 1)), _cell(e.type_title, cls="txt"),
                _cell(e.index_label or "–", cls="txt"), _cell(e.result.get("main_score_name"), cls="txt"), value,
                _cell(f"{rank} / {len(peers)}") if rank else MISSING]})
        blocks = [self.provenance(e, e.task + (f" / {e.index_label}" if e.index_label else ""))
                  for e in sorted(group, key=lambda e: (e.task.lower(), e.index_label or ""))]
        return self.render("model.html", f"{model} — {self.ctx['title']}", 1, model=model, revision=rev,
                           n_results=len(group), published=model in self.published, overall=overall,
                           results={"note": "", "headers": heads, "rows": rows},
                           plots=self.figures(self.plots.by_model.get(model, []), self.root / "models"),
                           provenance_blocks=blocks)


def write_site(root: Path, entries: list[Entry], tables: list[Table], plots: PlotSet, notes: list[str],
               context: dict, task_tables: TaskTables | None = None,
               significance: dict | None = None) -> tuple[Path, list[Path]]:
    """significance: the index page's significance section (`report_significance_views.site_view`)."""
    site = Site(root, entries, tables, plots, notes, context, task_tables)
    site.significance = significance
    (root / "assets").mkdir(parents=True, exist_ok=True)
    for name in ("style.css", "sortable.js"):
        shutil.copyfile(TEMPLATES / "assets" / name, root / "assets" / name)
    pages = []
    for sub, names, render in (("tasks", site.tasks, site.task_page), ("models", site.models, site.model_page)):
        (root / sub).mkdir(exist_ok=True)
        for name in names:
            p = root / sub / f"{page_slug(name)}.html"
            p.write_text(render(name), encoding="utf-8")
            pages.append(p)
    index = root / "index.html"
    index.write_text(site.index_page(), encoding="utf-8")
    return index, [index] + pages
