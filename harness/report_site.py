"""The static leaderboard site: plain HTML + one small script, no CDN, works from file://.

Every name and value from a result file goes through `esc` (html.escape with quotes) before it
reaches a page, so a model called `<script>alert(1)</script>` is shown as text. Page file names
come from `report.page_slug` (safe characters plus a hash), never from raw names. Sorting only
reorders existing rows (no innerHTML).
"""
from __future__ import annotations

import hashlib
import html
import json
import os
from pathlib import Path

from .report import (RANKED_TYPES, Entry, PlotSet, Table, flatten_scores, format_value, is_number,
                     page_slug, table_header, type_title)

STYLE = """
:root { --fg:#1d2330; --muted:#5b6474; --line:#dde2ea; --head:#f3f5f9; --accent:#2456a6; --bad:#b3261e; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0; background: #fff; }
header { background: #17233b; color: #fff; padding: 14px 28px; display: flex; align-items: baseline; gap: 24px; }
header h1 { font-size: 19px; margin: 0; font-weight: 600; }
header nav a { color: #cfe0ff; margin-right: 16px; text-decoration: none; }
header nav a:hover { text-decoration: underline; }
main { padding: 18px 28px 40px; max-width: 1400px; }
h2 { font-size: 17px; margin: 26px 0 6px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
p.meta, p.note { color: var(--muted); margin: 4px 0 10px; }
a { color: var(--accent); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0 14px; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 10px; text-align: right; white-space: nowrap; }
th { background: var(--head); font-weight: 600; position: sticky; top: 0; }
td.name, th.name { text-align: left; white-space: normal; min-width: 11em; max-width: 380px;
                   overflow-wrap: break-word; }
td.txt, th.txt { text-align: left; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th:hover { background: #e6ebf3; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; font-size: 10px; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; font-size: 10px; }
tbody tr:hover { background: #f8fafd; }
td.best { font-weight: 700; }
td.err { color: var(--bad); }
td.missing { color: #b0b6c0; }
table.kv th { text-align: left; vertical-align: top; background: none; position: static; }
table.kv td { text-align: left; white-space: normal; overflow-wrap: anywhere; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f4f6fa; padding: 1px 4px;
       border-radius: 3px; }
details { margin: 6px 0; border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
summary { cursor: pointer; font-weight: 600; }
.plots { display: flex; flex-wrap: wrap; gap: 14px; }
.plots figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 6px; background: #fff; }
.plots img { max-width: 640px; width: 100%; height: auto; display: block; }
.plots figcaption { color: var(--muted); font-size: 12px; }
ul.notes li { color: var(--bad); }
ul.cols { columns: 3; padding-left: 18px; }
footer { color: var(--muted); font-size: 12px; padding: 0 28px 24px; }
"""

SORT_JS = """// Sortable tables: click (or Enter on) a header. Numeric columns sort high-to-low first.
// Rows are moved, never rebuilt, so cell text stays text.
(function () {
  function key(cell, numeric) {
    var v = cell.getAttribute("data-sort");
    if (v === null) { v = cell.textContent.trim(); }
    if (v === "") { return null; }
    if (numeric) { var n = parseFloat(v); return isNaN(n) ? null : n; }
    return v.toLowerCase();
  }
  function sortBy(table, col, th) {
    var numeric = th.getAttribute("data-type") === "num";
    var current = th.getAttribute("aria-sort");
    var dir = current ? (current === "ascending" ? -1 : 1) : (numeric ? -1 : 1);
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col], numeric), y = key(b.cells[col], numeric);
      if (x === null && y === null) { return 0; }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.title = "sort by this column";
      th.addEventListener("click", function () { sortBy(table, col, th); });
      th.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { sortBy(table, col, th); } });
    });
  });
})();
"""


def esc(value) -> str:
    return html.escape(str(value), quote=True)


class Site:
    def __init__(self, root: Path, entries: list[Entry], tables: list[Table], plots: PlotSet, notes: list[str],
                 context: dict):
        self.root, self.entries, self.tables, self.plots, self.notes, self.ctx = root, entries, tables, plots, notes, context
        self.models = sorted({e.model for e in entries})
        self.tasks = sorted({e.task for e in entries})

    # -- links --------------------------------------------------------------------------------
    def model_href(self, model: str, depth: int) -> str:
        return "../" * depth + f"models/{page_slug(model)}.html"

    def task_href(self, task: str, depth: int) -> str:
        return "../" * depth + f"tasks/{page_slug(task)}.html"

    def model_link(self, model: str, depth: int) -> str:
        return f'<a href="{esc(self.model_href(model, depth))}">{esc(model)}</a>'

    def task_link(self, task: str, depth: int, label: str | None = None) -> str:
        return f'<a href="{esc(self.task_href(task, depth))}">{esc(label or task)}</a>'

    def img(self, path: Path, page_dir: Path) -> str:
        rel = os.path.relpath(path, page_dir).replace(os.sep, "/")
        return (f'<figure><a href="{esc(rel)}"><img src="{esc(rel)}" alt="{esc(path.stem)}" loading="lazy"></a>'
                f"<figcaption>{esc(path.stem)}</figcaption></figure>")

    # -- page frame ---------------------------------------------------------------------------
    def page(self, title: str, body: str, depth: int) -> str:
        up = "../" * depth
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<link rel="stylesheet" href="{up}assets/style.css">
</head><body>
<header><h1>{esc(self.ctx['title'])}</h1>
<nav><a href="{up}index.html">Leaderboard</a><a href="{up}index.html#tasks">Tasks</a><a href="{up}index.html#models">Models</a></nav></header>
<main>
{body}
</main>
<footer>Generated {esc(self.ctx['generated'])} by harness {esc(self.ctx['version'])} from {self.ctx['n_results']} result file(s). Static files: no server needed.</footer>
<script src="{up}assets/sortable.js"></script>
</body></html>
"""

    # -- tables -------------------------------------------------------------------------------
    def table_html(self, t: Table, depth: int) -> str:
        header = table_header(t)
        best = {}
        for h in t.columns:
            vals = [r.get(h) for r in t.rows if is_number(r.get(h))]
            if t.ranked and vals and len(t.rows) > 1:
                best[h] = max(vals)
        ths = []
        for h in header:
            numeric = h != "Model"
            cls = ' class="name"' if h == "Model" else ""
            label = esc(type_title(h) if t.key == "overall" and h in t.columns[2:] else h)
            if t.key == "overall" and h in t.columns[2:]:
                label = f'<a href="#{esc(page_slug(h))}">{label}</a>'
            if h in t.column_tasks:
                label = self.task_link(t.column_tasks[h], depth, h)
            ths.append(f'<th{cls} data-type="{"num" if numeric else "text"}" scope="col">{label}</th>')
        rows = []
        for r in t.rows:
            tds = []
            for h in header:
                v = r.get(h)
                if h == "Model":
                    tds.append(f'<td class="name">{self.model_link(v, depth)}</td>')
                elif v == "error":
                    tds.append('<td class="err" data-sort="">error</td>')
                elif v is None:
                    tds.append('<td class="missing" data-sort="">–</td>')
                else:
                    cls = ' class="best"' if h in best and v == best[h] else ""
                    tds.append(f'<td{cls} data-sort="{esc(repr(float(v)))}">{esc(format_value(v, t.percent, h))}</td>')
            rows.append("<tr>" + "".join(tds) + "</tr>")
        note = "; ".join(x for x in (t.note, "scores x 100" if t.percent and t.ranked else "") if x)
        note = f'<p class="note">{esc(note)}</p>' if note else ""
        return (f"{note}<div class=\"scroll\"><table class=\"sortable\"><thead><tr>{''.join(ths)}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table></div>")

    # -- provenance ---------------------------------------------------------------------------
    def provenance(self, e: Entry, heading: str) -> str:
        r = e.result
        ds = r.get("dataset") or {}
        files = ds.get("sha256") or {}
        file_rows = "".join(f"<tr><td><code>{esc(f)}</code></td><td><code>{esc(h)}</code></td></tr>"
                            for f, h in sorted(files.items()))
        versions = ", ".join(f"{esc(k)} {esc(v)}" for k, v in (r.get("versions") or {}).items() if v is not None)
        try:
            digest = hashlib.sha256(e.path.read_bytes()).hexdigest()
        except OSError:
            digest = "unreadable"
        rows = [("result file", f"<code>{esc(e.rel)}</code>"), ("result file sha256", f"<code>{digest}</code>"),
                ("job key", f"<code>{esc(r.get('job_key'))}</code>"), ("status", esc(r.get("status"))),
                ("created", esc(r.get("created_at"))),
                ("task", f"{esc(r.get('task'))} v{esc(r.get('task_version'))}, type {esc(r.get('task_type'))}, "
                         f"split {esc(r.get('split'))}, main score {esc(r.get('main_score_name'))}"),
                ("model", f"{esc(r.get('model'))}, revision <code>{esc(r.get('model_revision'))}</code>"),
                ("seed", esc(r.get("seed"))),
                ("params", f"<code>{esc(json.dumps(r.get('params'), sort_keys=True))}</code>")]
        if r.get("index") is not None:
            rows.append(("index", f"<code>{esc(json.dumps(r.get('index'), sort_keys=True))}</code>"))
        if r.get("index_stats"):
            rows.append(("index stats", f"<code>{esc(json.dumps(r.get('index_stats'), sort_keys=True))}</code>"))
        rows += [("dataset", f"{esc(ds.get('path'))} ({esc(ds.get('source', 'local'))})"
                             f"<table>{file_rows}</table>" if files else esc(ds.get("path"))),
                 ("versions", versions),
                 ("timings (s)", esc(", ".join(f"{k} {v:.3g}" for k, v in (r.get("timings_s") or {}).items()
                                               if is_number(v))))]
        if r.get("error"):
            rows.append(("error", f'<span class="err">{esc(r.get("error"))}</span>'))
        body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        return f"<details><summary>{heading}</summary><table class=\"kv\">{body}</table></details>"

    # -- pages --------------------------------------------------------------------------------
    def index_page(self) -> str:
        parts = [f'<p class="meta">{len(self.models)} model(s), {len(self.tasks)} task(s), '
                 f'{self.ctx["n_results"]} result file(s) from <code>{esc(self.ctx["results_dir"])}</code>. '
                 "Click a column header to sort; a model or task opens its page with plots and provenance.</p>"]
        for t in self.tables:
            title = "Overall leaderboard" if t.key == "overall" else type_title(t.key)
            parts.append(f'<h2 id="{esc(page_slug(t.key))}">{esc(title)}</h2>')
            parts.append(self.table_html(t, 0))
        parts.append('<h2 id="tasks">Tasks</h2><div class="scroll"><table class="sortable"><thead><tr>'
                     '<th class="name" data-type="text">task</th><th class="txt" data-type="text">type</th>'
                     '<th class="txt" data-type="text">main score</th><th data-type="num">models</th></tr></thead><tbody>')
        for task in self.tasks:
            group = [e for e in self.entries if e.task == task]
            parts.append(f"<tr><td class=\"name\">{self.task_link(task, 0)}</td>"
                         f"<td class=\"txt\">{esc(group[0].task_type)}</td>"
                         f"<td class=\"txt\">{esc(group[0].result.get('main_score_name'))}</td>"
                         f"<td>{len({e.model for e in group})}</td></tr>")
        parts.append("</tbody></table></div>")
        parts.append('<h2 id="models">Models</h2><ul class="cols">'
                     + "".join(f"<li>{self.model_link(m, 0)}</li>" for m in self.models) + "</ul>")
        if self.notes:
            parts.append('<h2 id="notes">Notes</h2><ul class="notes">'
                         + "".join(f"<li>{esc(n)}</li>" for n in self.notes) + "</ul>")
        return self.page(self.ctx["title"], "\n".join(parts), 0)

    def task_page(self, task: str) -> str:
        group = [e for e in self.entries if e.task == task]
        first = group[0].result
        ranked = group[0].task_type in RANKED_TYPES
        parts = [f"<h2>{esc(task)}</h2>",
                 f'<p class="meta">type {esc(first.get("task_type"))}, split {esc(first.get("split"))}, '
                 f'main score <code>{esc(first.get("main_score_name"))}</code>'
                 + ("" if ranked else " (descriptive, not ranked)") + "</p>"]
        metrics = []
        for e in group:
            for k, v in flatten_scores(e.result.get("scores") or {}).items():
                if is_number(v) and k not in metrics:
                    metrics.append(k)
        main = first.get("main_score_name")
        metrics.sort(key=lambda k: (k != main, k))
        heads = ['<th class="name" data-type="text">model</th><th class="txt" data-type="text">index</th>'
                 '<th class="txt" data-type="text">status</th>'] + [f'<th data-type="num">{esc(k)}</th>' for k in metrics]
        rows = []
        for e in sorted(group, key=lambda e: (-(e.main_score or -1e300), e.model, e.index or "")):
            scores = flatten_scores(e.result.get("scores") or {})
            cells = [f'<td class="name">{self.model_link(e.model, 1)}</td><td class="txt">{esc(e.index or "–")}</td>',
                     f'<td class="txt{" err" if e.result.get("status") != "ok" else ""}">{esc(e.result.get("status"))}</td>']
            for k in metrics:
                v = scores.get(k)
                cells.append(f'<td data-sort="{esc(repr(float(v)))}">{v:.5g}</td>' if is_number(v)
                             else '<td class="missing" data-sort="">–</td>')
            rows.append("<tr>" + "".join(cells) + "</tr>")
        parts.append('<h3>Scores (unrounded values in tables/scores.csv)</h3><div class="scroll">'
                     f'<table class="sortable"><thead><tr>{"".join(heads)}</tr></thead>'
                     f'<tbody>{"".join(rows)}</tbody></table></div>')
        plots = self.plots.by_task.get(task, [])
        if plots:
            page_dir = self.root / "tasks"
            parts.append('<h3>Plots</h3><div class="plots">' + "".join(self.img(p, page_dir) for p in plots)
                         + "</div>")
        parts.append("<h3>Provenance</h3>")
        for e in sorted(group, key=lambda e: (e.model, e.index or "")):
            parts.append(self.provenance(e, f"{esc(e.model)}" + (f" / {esc(e.index)}" if e.index else "")))
        return self.page(f"{task} — {self.ctx['title']}", "\n".join(parts), 1)

    def model_page(self, model: str) -> str:
        group = [e for e in self.entries if e.model == model]
        rev = next((e.result.get("model_revision") for e in group if e.result.get("model_revision")), None)
        parts = [f"<h2>{esc(model)}</h2>",
                 f'<p class="meta">revision <code>{esc(rev)}</code>; {len(group)} result(s)</p>']
        for t in self.tables:
            row = next((r for r in t.rows if r.get("Model") == model), None)
            if row is not None and t.key == "overall":
                n = len(t.rows)
                parts.append(f'<p class="meta">overall Borda rank {esc(row["Rank (Borda)"])} of {n}; '
                             f'mean (task) {esc(format_value(row.get("Mean (Task)"), True) or "–")} (x 100)</p>')
        heads = ('<th class="name" data-type="text">task</th><th class="txt" data-type="text">type</th>'
                 '<th class="txt" data-type="text">index</th><th class="txt" data-type="text">main score</th>'
                 '<th data-type="num">value</th><th data-type="num">rank in task</th>')
        rows = []
        for e in sorted(group, key=lambda e: (e.task_type, e.task, e.index or "")):
            peers = [x.main_score for x in self.entries if x.task == e.task and x.index == e.index and x.ok]
            rank = (1 + sum(1 for v in peers if v > e.main_score)) if e.ok and e.task_type in RANKED_TYPES else None
            value = (f'<td data-sort="{esc(repr(e.main_score))}">{e.main_score:.5f}</td>' if e.ok else
                     f'<td class="err" data-sort="">{esc(e.result.get("status"))}</td>')
            rank_cell = f"<td>{rank} / {len(peers)}</td>" if rank else '<td class="missing" data-sort="">–</td>'
            rows.append(f'<tr><td class="name">{self.task_link(e.task, 1)}</td><td class="txt">{esc(e.task_type)}</td>'
                        f'<td class="txt">{esc(e.index or "–")}</td>'
                        f'<td class="txt">{esc(e.result.get("main_score_name"))}</td>'
                        f"{value}{rank_cell}</tr>")
        parts.append(f'<div class="scroll"><table class="sortable"><thead><tr>{heads}</tr></thead>'
                     f'<tbody>{"".join(rows)}</tbody></table></div>')
        plots = self.plots.by_model.get(model, [])
        if plots:
            parts.append('<h3>Plots</h3><div class="plots">'
                         + "".join(self.img(p, self.root / "models") for p in plots) + "</div>")
        parts.append("<h3>Provenance</h3>")
        for e in sorted(group, key=lambda e: (e.task.lower(), e.index or "")):
            parts.append(self.provenance(e, f"{esc(e.task)}" + (f" / {esc(e.index)}" if e.index else "")))
        return self.page(f"{model} — {self.ctx['title']}", "\n".join(parts), 1)


def write_site(root: Path, entries: list[Entry], tables: list[Table], plots: PlotSet, notes: list[str],
               context: dict) -> tuple[Path, list[Path]]:
    site = Site(root, entries, tables, plots, notes, context)
    (root / "assets").mkdir(parents=True, exist_ok=True)
    (root / "assets" / "style.css").write_text(STYLE.lstrip(), encoding="utf-8")
    (root / "assets" / "sortable.js").write_text(SORT_JS, encoding="utf-8")
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

