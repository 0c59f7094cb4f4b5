"""Generic report plots, driven by the fields of result files (matplotlib, Agg, PNG).

Each function takes the report's entries for one task (`harness.report.Entry`: `.result`, `.path`,
`.model`, `.index`), writes one PNG and returns its path, or None when the results hold nothing it
can draw. What they look for, so any task family gets them without registering anything:

- bars: `main_score` per model (grouped by index when a task ran under several indexes);
- Pareto (methods.md §6.4): (recall, QPS) points from `details` records having a key with
  "recall" and a key "qps", or from the scores/index_stats of index jobs (a score like
  `index_recall_at_10` against exact search, and `qps`);
- recall vs ef: `details` records having `ef` (or `ef_search`) and a key with "recall", one line per
  combination of their text fields (library, order, ...);
- LID histograms: sidecar `<result stem>.<key>.npy` whose key contains "lid";
- spectra: a sidecar or `details` entry whose key contains "singular" or "spectrum" (1-D);
- effect sizes: `details` records with `effect_size` (and `p_value`), one bar per test and model.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

DPI = 110
RECALL_KEY = re.compile(r"recall", re.I)
ANN_RECALL_SCORE = re.compile(r"(index|ann|hnsw|approx)\w*recall|recall\w*(exact|vs|ann|index)", re.I)
QPS_KEY = re.compile(r"(^|_)qps($|_)", re.I)
EF_KEYS = ("ef", "ef_search", "efSearch", "efsearch")


def _plt():
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


def _save(fig, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return out


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ------------------------------------------------------------------------------------------ Pareto
def pareto_front(points, *, higher_x: bool = True, higher_y: bool = True) -> list[tuple[float, float]]:
    """ann-benchmarks `create_pointset`: sort by y (best first) then x (best first), keep a point iff
    its x beats every x kept so far; points with a falsy x or y are skipped."""
    sx, sy = (-1 if higher_x else 1), (-1 if higher_y else 1)
    pts = sorted(((float(x), float(y)) for x, y in points if x and y), key=lambda p: (sy * p[1], sx * p[0]))
    front, best = [], None
    for x, y in pts:
        if best is None or (x > best if higher_x else x < best):
            front.append((x, y))
            best = x
    return front


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
    plt = _plt()
    first = entries[0].result
    indexes = sorted({e.index or "" for e in entries}, key=lambda i: (i not in ("", "exact"), i))
    models = sorted({e.model for e in entries},   # best first; equal scores by name (sets have no order)
                    key=lambda m: (-max(e.main_score for e in entries if e.model == m), m))
    height = 0.8 / len(indexes)
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.42 * len(models) * max(1, len(indexes) * 0.7)))
    hatches = ["", "//", "..", "xx", "\\\\", "++"]
    for j, idx in enumerate(indexes):
        for i, m in enumerate(models):
            e = next((e for e in entries if e.model == m and (e.index or "") == idx), None)
            if e is None:
                continue
            y = i + (j - (len(indexes) - 1) / 2) * height
            ax.barh(y, e.main_score, height=height * 0.92, color=colors.get(m), hatch=hatches[j % len(hatches)],
                    edgecolor="white" if not hatches[j % len(hatches)] else "0.25", linewidth=0.5,
                    label=text(idx or "no index") if i == 0 or not any(
                        x.model == models[0] and (x.index or "") == idx for x in entries) else None)
            ax.text(e.main_score, y, f" {e.main_score:.4f}", va="center", fontsize=8)
    ax.set_yticks(range(len(models)), [text(short(m)) for m in models])
    ax.invert_yaxis()
    lo = min(0.0, min(e.main_score for e in entries))
    hi = max(e.main_score for e in entries)
    ax.set_xlim(lo, hi * 1.18 if hi > 0 else 1)
    ax.set_xlabel(text(first.get("main_score_name") or "main score"))
    ax.set_title(text(f"{first.get('task')} ({first.get('task_type')}, {first.get('split') or 'test'})"))
    ax.grid(axis="y", visible=False)
    if len(indexes) > 1:
        ax.legend(title="index", loc="lower right")
    return _save(fig, out)


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
                annotate.append((e.index or "", point))
    if not series or sum(len(v) for v in series.values()) < 2:
        return None
    plt = _plt()
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
    ax.set_xlabel("recall@k against exact search")
    ax.set_ylabel("queries per second (log)")
    ax.set_title(text(f"{entries[0].task}: QPS vs recall, Pareto fronts"))
    if len(series) > 4:   # many series: legend beside the axes, never over the points
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(loc="best")
    return _save(fig, out)


def plot_recall_vs_ef(entries, out: Path, colors: dict) -> Path | None:
    """Recall against ef, one panel per (model, library), one line per setting (insertion order, ...);
    seeded variants (random:0..4) are drawn as their mean with a +-1 std band."""
    panels: dict[str, dict[str, dict[float, list[float]]]] = {}
    recall_name = "recall"
    for e in entries:
        records = [r for r in sweep_records(e.result) if is_number(r["ef"])]
        keep = _varying(records)
        for r in records:
            recall_name = r["recall_key"]
            lib = dict(r["group"]).get("library")
            line = _label(r["group"], keep, skip=("library",)) or "recall"
            panel = " / ".join(x for x in (short(e.model, 30) if len(entries) > 1 else "", lib or "") if x)
            panels.setdefault(panel, {}).setdefault(line, {}).setdefault(float(r["ef"]), []).append(r["recall"])
    if not panels:
        return None
    plt = _plt()
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(min(5.0 * n + 1.5, 16), 4.0), squeeze=False, sharey=True)
    cmap = plt.get_cmap("tab10")
    labels = sorted({lab for p in panels.values() for lab in p})
    for ax, (panel, lines) in zip(axes[0], sorted(panels.items())):
        for label, by_ef in sorted(lines.items()):
            xs = sorted(by_ef)
            ys = np.array([np.mean(by_ef[x]) for x in xs])
            seeds = max(len(v) for v in by_ef.values())
            color = cmap(labels.index(label) % 10)
            name = f"{label} (mean of {seeds})" if seeds > 1 else label
            ax.plot(xs, ys, "-o", ms=3.5, lw=1.5, color=color, label=text(name))
            if seeds > 1:
                sd = np.array([np.std(by_ef[x]) for x in xs])
                ax.fill_between(xs, ys - sd, ys + sd, color=color, alpha=0.15, linewidth=0)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({x for by_ef in lines.values() for x in by_ef}))
        ax.get_xaxis().set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("ef (search)")
        ax.set_title(text(panel or entries[0].task))
    axes[0][0].set_ylabel(text(recall_name))
    if len(labels) > 1 or any(max(len(v) for v in by_ef.values()) > 1 for p in panels.values()
                              for by_ef in p.values()):
        axes[0][-1].legend(loc="lower right")
    fig.suptitle(text(f"{entries[0].task}: recall vs ef"), fontsize=11)
    return _save(fig, out)


def sidecars(result_path: Path) -> dict[str, Path]:
    """`<stem>.<key>.npy` files next to a result: key -> path."""
    stem = Path(result_path).stem
    return {p.name[len(stem) + 1:-4]: p for p in Path(result_path).parent.glob(f"{stem}.*.npy")}


def _load_1d(path: Path) -> np.ndarray | None:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    arr = np.asarray(arr, dtype=np.float64).ravel()
    arr = arr[np.isfinite(arr)]
    return arr if arr.size else None


def plot_lid_histograms(entries, out: Path, colors: dict) -> Path | None:
    """Distribution of pointwise LID per model (sidecar arrays), with the median marked."""
    data = {}
    for e in entries:
        for key, p in sidecars(e.path).items():
            if "lid" in key.lower():
                arr = _load_1d(p)
                if arr is not None:
                    data[e.model] = arr
                    break
    if not data:
        return None
    plt = _plt()
    allv = np.concatenate(list(data.values()))
    lo, hi = np.percentile(allv, [0.5, 99.5])
    bins = np.linspace(lo, hi, 41)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for m, arr in sorted(data.items()):
        med = float(np.median(arr))
        ax.hist(np.clip(arr, lo, hi), bins=bins, density=True, histtype="stepfilled", alpha=0.18, color=colors.get(m))
        ax.hist(np.clip(arr, lo, hi), bins=bins, density=True, histtype="step", lw=1.6, color=colors.get(m),
                label=text(f"{short(m)} (median {med:.1f}, n={arr.size})"))
        ax.axvline(med, color=colors.get(m), ls="--", lw=1)
    ax.set_xlabel("pointwise LID")
    ax.set_ylabel("density")
    ax.set_title(text(f"{entries[0].task}: local intrinsic dimension"))
    ax.legend()
    return _save(fig, out)


def plot_spectra(entries, out: Path, colors: dict) -> Path | None:
    """Singular values normalised by the largest, against their rank (log-log)."""
    data = {}
    for e in entries:
        arr = None
        for key, p in sidecars(e.path).items():
            if "singular" in key.lower() or "spectrum" in key.lower():
                arr = _load_1d(p)
                if arr is not None:
                    break
        if arr is None:
            for key, v in (e.result.get("details") or {}).items():
                if ("singular" in key.lower() or "spectrum" in key.lower()) and isinstance(v, list) \
                        and v and all(is_number(x) for x in v):
                    arr = np.asarray(v, dtype=np.float64)
                    break
        if arr is not None and arr.max() > 0:
            data[e.model] = np.sort(np.abs(arr))[::-1]
    if not data:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for m, sv in sorted(data.items()):
        ax.plot(np.arange(1, sv.size + 1), sv / sv[0], lw=1.6, color=colors.get(m),
                label=text(f"{short(m)} (d={sv.size})"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rank i")
    ax.set_ylabel("σ_i / σ_1")
    ax.set_title(text(f"{entries[0].task}: normalised singular-value spectrum"))
    ax.legend()
    return _save(fig, out)


def plot_effect_sizes(entries, out: Path, colors: dict) -> Path | None:
    """Effect size per test and model; * marks p < 0.05, ** p < 0.01."""
    rows: dict[str, dict[str, tuple[float, float | None]]] = {}
    for e in entries:
        for records in record_lists(e.result.get("details") or {}):
            for r in records:
                if not is_number(r.get("effect_size")):
                    continue
                name = r.get("test") or r.get("name") or next((v for v in r.values() if isinstance(v, str)), "?")
                p = r.get("p_value")
                rows.setdefault(str(name), {})[e.model] = (float(r["effect_size"]), p if is_number(p) else None)
    if not rows:
        return None
    plt = _plt()
    tests = sorted(rows)
    models = sorted({m for r in rows.values() for m in r})
    h = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(7.5, 1.0 + 0.35 * len(tests) * max(1, len(models) * 0.8)))
    for j, m in enumerate(models):
        for i, t in enumerate(tests):
            if m not in rows[t]:
                continue
            d, p = rows[t][m]
            y = i + (j - (len(models) - 1) / 2) * h
            ax.barh(y, d, height=h * 0.9, color=colors.get(m), label=text(short(m)) if i == 0 else None)
            stars = "" if p is None else ("**" if p < 0.01 else "*" if p < 0.05 else "")
            ax.text(d, y, f" {d:+.2f}{stars}" if d >= 0 else f"{d:+.2f}{stars} ", va="center",
                    ha="left" if d >= 0 else "right", fontsize=7)
    ax.axvline(0, color="0.3", lw=0.8)
    lim = max(abs(d) for r in rows.values() for d, _ in r.values())
    ax.set_xlim(-lim * 1.35 - 0.05, lim * 1.35 + 0.05)
    ax.set_yticks(range(len(tests)), [text(t) for t in tests])
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("effect size (* p < 0.05, ** p < 0.01)")
    ax.set_title(text(f"{entries[0].task}: effect sizes per test"))
    handles = {h.get_label(): h for h in ax.get_legend_handles_labels()[0]}
    if len(models) > 1 or handles:
        ax.legend(loc="best")
    return _save(fig, out)


def plot_model_profile(model: str, entries, out: Path, colors: dict) -> Path | None:
    """One model's main scores over the ranked tasks."""
    plt = _plt()
    entries = sorted(entries, key=lambda e: (e.task_type, e.task))
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.35 * len(entries)))
    ys = range(len(entries))
    ax.barh(list(ys), [e.main_score for e in entries], color=colors.get(model), height=0.7)
    for y, e in zip(ys, entries):
        ax.text(e.main_score, y, f" {e.main_score:.4f} {e.result.get('main_score_name', '')}", va="center",
                fontsize=7)
    ax.set_yticks(list(ys), [text(f"{e.task} ({e.task_type})") for e in entries])
    ax.invert_yaxis()
    ax.set_xlim(min(0.0, min(e.main_score for e in entries)), 1.3)
    ax.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("main score")
    ax.set_title(text(f"{short(model, 60)}: main scores"))
    return _save(fig, out)
