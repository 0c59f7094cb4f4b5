"""Generic report plots that need no knowledge of any task (matplotlib, Agg, PNG).

Each function takes the report's entries for one task (`harness.report_entries.Entry`: `.result`,
`.model`, `.index`, `.index_label`), writes one PNG and returns its path, or None when the results hold
nothing it can draw:

- bars: `main_score` per model (grouped by index when a task ran under several indexes);
- Pareto (methods.md §6.4): (recall, QPS) points from `details` records having a key with
  "recall" and a key "qps" (a parameter sweep), or from the scores/index_stats of index jobs (a
  score like `index_recall_at_10` against exact search, and `qps`);
- the model profile: one model's main scores over the ranked tasks.

Plots that belong to one task family (LID histograms, spectra, effect sizes, recall vs ef, ...) live
in `tasks/plots/` and are named by the tasks themselves (`declared.plots`).
"""
from __future__ import annotations

import re
from pathlib import Path

from .pareto import pareto_front
from .report_fields import is_number, natural_key

DPI = 110
RECALL_KEY = re.compile(r"recall", re.I)
ANN_RECALL_SCORE = re.compile(r"(index|ann|hnsw|approx)\w*recall|recall\w*(exact|vs|ann|index)", re.I)
QPS_KEY = re.compile(r"(^|_)qps($|_)", re.I)
EF_KEYS = ("ef", "ef_search", "efSearch", "efsearch")
__all__ = ["pareto_front", "plot_task_bars", "plot_pareto", "plot_model_profile", "model_colors", "plain_log_axis"]


def styled_pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"figure.dpi": DPI, "axes.spines.top": False, "axes.spines.right": False,
                         "axes.grid": True, "grid.alpha": 0.3, "font.size": 9, "axes.titlesize": 10,
                         "legend.fontsize": 8, "legend.frameon": False})
    return plt


def text(s) -> str:
    """Literal text for matplotlib: `$` would start mathtext."""
    return str(s).replace("$", r"\$")


def short(s, n: int = 40) -> str:
    s = str(s)
    return s if len(s) <= n else s[: n - 1] + "…"


def model_colors(models: list[str]) -> dict[str, tuple]:
    import matplotlib
    cmap = matplotlib.colormaps["tab10" if len(models) <= 10 else "tab20"]
    return {m: cmap(i % cmap.N) for i, m in enumerate(models)}


def plain_log_axis(ax) -> None:
    """QPS as plain numbers (2,500 rather than 2.5 x 10^3) on the log axis: 1-2-5 steps, or every step
    when the range holds fewer than three of those."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    fmt = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    lo, hi = ax.get_ylim()
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    steps = sum(lo <= s * 10.0 ** d <= hi for d in decades for s in (1, 2, 5))
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if steps >= 3 else tuple(range(1, 10))))
    ax.yaxis.set_major_formatter(fmt)
    ax.yaxis.set_minor_formatter(NullFormatter())


def save_png(fig, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return out


# ------------------------------------------------------------------------------------------ records
def record_lists(obj, depth: int = 0):
    """Lists of dict records anywhere in `details` (up to 3 levels deep)."""
    if depth > 3:
        return
    if isinstance(obj, dict):
        for v in obj.values():
            yield from record_lists(v, depth + 1)
    elif isinstance(obj, list) and obj and all(isinstance(x, dict) for x in obj):
        yield obj


RECALL_PREFERENCE = (re.compile(r"recall_tie(_at_\d+|@\d+)?"), re.compile(r"recall(_at_\d+|@\d+)?"),
                     re.compile(r"recall_id(_at_\d+|@\d+)?"))
SEEDED = re.compile(r"^(.+?)[:_@#](?:seed)?\d+$")   # "random:3", "random_seed2" -> one series "random"


def recall_key(keys) -> str | None:
    """The recall figure of a record: tie-aware first (methods.md §6.1), never a std or a per-query list."""
    keys = [k for k in keys if "std" not in k and "per_query" not in k]
    for pattern in RECALL_PREFERENCE:
        found = sorted(k for k in keys if pattern.fullmatch(k))
        if found:
            return found[0]
    found = sorted((k for k in keys if RECALL_KEY.search(k)), key=len)
    return found[0] if found else None


def qps_key(keys) -> str | None:
    found = sorted((k for k in keys if QPS_KEY.search(k)), key=len)
    return found[0] if found else None


def series_name(value) -> str:
    """Seeded variants of one setting (random:0 .. random:4) form one series."""
    m = SEEDED.match(str(value))
    return m.group(1) if m else str(value)


def _categories(rec: dict, skip: set) -> tuple:
    return tuple((k, series_name(v)) for k, v in rec.items() if k not in skip and isinstance(v, str))


def sweep_records(result: dict) -> list[dict]:
    """The richest list of records in `details` that has an ef and a recall (a parameter sweep):
    [{'ef', 'recall', 'qps', 'group': ((field, value), ...), 'recall_key'}]."""
    best: list[dict] = []
    for records in record_lists(result.get("details") or {}):
        keys = set().union(*(r.keys() for r in records))
        ef = next((k for k in EF_KEYS if k in keys), None)
        recall = recall_key(keys)
        if recall is None or ef is None:
            continue
        qps = qps_key(keys)
        out = []
        for r in records:
            if not is_number(r.get(recall)):
                continue
            out.append({"ef": r.get(ef), "recall": float(r[recall]),
                        "qps": float(r[qps]) if qps and is_number(r.get(qps)) else None,
                        "group": _categories(r, {ef, recall, qps}), "recall_key": recall})
        if (bool(qps), len(out)) > (any(x["qps"] for x in best), len(best)):
            best = out
    return best


def index_point(result: dict) -> tuple[float, float] | None:
    """(recall against exact search, QPS) of an index job, from its scores / index_stats, QPS falling back
    to details' n_queries / timings_s.search."""
    scores = result.get("scores") or {}
    stats = result.get("index_stats") or {}
    details = result.get("details") or {}
    ann = [k for k in scores if ANN_RECALL_SCORE.search(k) and is_number(scores[k])]
    tie = [k for k in ann if "tie" in k]
    recall_name = sorted(tie or ann, key=len)[0] if ann else None
    qps = next((src[k] for src in (scores, stats) for k in src if QPS_KEY.search(k) and is_number(src[k])), None)
    if qps is None:
        search_s = (details.get("timings_s") or {}).get("search")
        n_queries = details.get("n_queries")
        if is_number(search_s) and search_s > 0 and is_number(n_queries):
            qps = n_queries / search_s
    if recall_name is None or qps is None:
        return None
    return float(scores[recall_name]), float(qps)


# ------------------------------------------------------------------------------------------ plots
def plot_task_bars(entries, out: Path, colors: dict) -> Path | None:
    """Main score per model; one bar per index when the task ran under several."""
    plt = styled_pyplot()
    first = entries[0].result
    indexes = sorted({e.index_label or "" for e in entries}, key=lambda i: (i not in ("", "exact"), natural_key(i)))
    models = sorted({e.model for e in entries},   # best first; equal scores by name (sets have no order)
                    key=lambda m: (-max(e.main_score for e in entries if e.model == m), m))
    if len(indexes) > 2:
        return _bars_per_point(entries, models, indexes, out, colors)
    height = 0.8 / len(indexes)
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.42 * len(models) * max(1, len(indexes) * 0.7)))
    hatches = ["", "//", "..", "xx", "\\\\", "++"]
    for j, idx in enumerate(indexes):
        for i, m in enumerate(models):
            e = next((e for e in entries if e.model == m and (e.index_label or "") == idx), None)
            if e is None:
                continue
            y = i + (j - (len(indexes) - 1) / 2) * height
            ax.barh(y, e.main_score, height=height * 0.92, color=colors.get(m), hatch=hatches[j % len(hatches)],
                    edgecolor="white" if not hatches[j % len(hatches)] else "0.25", linewidth=0.5,
                    label=text(idx or "no index") if i == 0 or not any(
                        x.model == models[0] and (x.index_label or "") == idx for x in entries) else None)
            ax.text(e.main_score, y, f" {e.main_score:.4f}", va="center", fontsize=8)
    ax.set_yticks(range(len(models)), [text(short(m)) for m in models])
    ax.invert_yaxis()
    lo = min(0.0, min(e.main_score for e in entries))
    hi = max(e.main_score for e in entries)
    ax.set_xlim(lo, hi * 1.18 if hi > 0 else 1)
    ax.set_xlabel(text(first.get("main_score_name") or "main score"))
    ax.set_title(text(f"{first.get('task')} ({entries[0].type_title}, {first.get('split') or 'test'})"))
    ax.grid(axis="y", visible=False)
    if len(indexes) > 1:   # beside the axes: never over a bar or its value
        ax.legend(title="index", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_png(fig, out)


def _bars_per_point(entries, models: list[str], indexes: list[str], out: Path, colors: dict) -> Path:
    """Many index points: one labelled bar per (model, index point), coloured by model, rather than
    hatches nobody can tell apart."""
    plt = styled_pyplot()
    first = entries[0].result
    rows = [e for m in models for idx in indexes for e in entries if e.model == m and (e.index_label or "") == idx]
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.3 * len(rows)))
    for y, e in enumerate(rows):
        ax.barh(y, e.main_score, height=0.75, color=colors.get(e.model))
        ax.text(e.main_score, y, f" {e.main_score:.4f}", va="center", fontsize=7)
    many = len(models) > 1
    labels = [(f"{short(e.model, 24)}: " if many else "") + short(e.index_label or "no index", 48) for e in rows]
    ax.set_yticks(range(len(rows)), [text(label) for label in labels], fontsize=7)
    ax.invert_yaxis()
    lo, hi = min(0.0, min(e.main_score for e in rows)), max(e.main_score for e in rows)
    ax.set_xlim(lo, hi * 1.18 if hi > 0 else 1)
    ax.set_xlabel(text(first.get("main_score_name") or "main score"))
    model_note = "" if many else f"{short(models[0], 40)}, "
    ax.set_title(text(f"{first.get('task')} ({entries[0].type_title}, {model_note}{first.get('split') or 'test'}): "
                      "per index point"))
    ax.grid(axis="y", visible=False)
    return save_png(fig, out)


def _varying(records: list[dict]) -> set[str]:
    """Category fields whose value differs between records (constant ones make poor labels)."""
    seen: dict[str, set] = {}
    for r in records:
        for k, v in r["group"]:
            seen.setdefault(k, set()).add(v)
    return {k for k, vals in seen.items() if len(vals) > 1}


def _label(group, keep: set, skip=()) -> str:
    return " / ".join(str(v) for k, v in group if k in keep and k not in skip)


def plot_pareto(entries, out: Path, colors: dict) -> Path | None:
    """QPS vs recall: every point faint, each series' Pareto frontier as a line (methods.md §6.4)."""
    series: dict[str, list[tuple[float, float]]] = {}
    series_model: dict[str, str] = {}
    many_models = len({e.model for e in entries}) > 1
    annotate = []
    for e in entries:
        swept = [r for r in sweep_records(e.result) if r["qps"]]
        keep = _varying(swept)
        for r in swept:
            label = _label(r["group"], keep) or (e.index or "sweep")
            label = f"{short(e.model, 24)}: {label}" if many_models else label
            series.setdefault(label, []).append((r["recall"], r["qps"]))
            series_model[label] = e.model
        if not swept:
            point = index_point(e.result)
            if point:
                label = short(e.model, 24) if many_models else (e.index or "index")
                series.setdefault(label, []).append(point)
                series_model[label] = e.model
                annotate.append((e.index_label or "", point))
    if not series or sum(len(v) for v in series.values()) < 2:
        return None
    plt = styled_pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    cmap = plt.get_cmap("tab10")
    by_model = len(series) == len(set(series_model.values()))
    for i, (label, pts) in enumerate(sorted(series.items())):
        color = colors.get(series_model[label]) if by_model else cmap(i % 10)
        xs, ys = zip(*pts)
        ax.scatter(xs, ys, s=14, color=color, alpha=0.35, linewidths=0)
        fx, fy = zip(*pareto_front(pts))
        ax.plot(fx, fy, "-o", color=color, ms=4, lw=1.5, label=text(label))
    for name, point in annotate:
        ax.annotate(text(name), point, textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_yscale("log")
    plain_log_axis(ax)
    ax.set_xlabel("recall@k against exact search")
    ax.set_ylabel("queries per second (log)")
    ax.set_title(text(f"{entries[0].task}: QPS vs recall, Pareto fronts"))
    if len(series) > 4:   # many series: legend beside the axes, never over the points
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(loc="best")
    return save_png(fig, out)


def plot_model_profile(model: str, entries, out: Path, colors: dict) -> Path | None:
    """One model's main scores over the ranked tasks."""
    plt = styled_pyplot()
    entries = sorted(entries, key=lambda e: (e.type_title, e.task))
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.35 * len(entries)))
    ys = range(len(entries))
    ax.barh(list(ys), [e.main_score for e in entries], color=colors.get(model), height=0.7)
    for y, e in zip(ys, entries):
        ax.text(e.main_score, y, f" {e.main_score:.4f} {e.result.get('main_score_name', '')}", va="center",
                fontsize=7)
    ax.set_yticks(list(ys), [text(f"{e.task} ({e.type_title})") for e in entries])
    ax.invert_yaxis()
    ax.set_xlim(min(0.0, min(e.main_score for e in entries)), 1.3)
    ax.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("main score")
    ax.set_title(text(f"{short(model, 60)}: main scores"))
    return save_png(fig, out)
