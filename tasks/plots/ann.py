"""Plots and the Pareto table of the ANN sweep tasks (tasks/ann_sweep.py), ann-benchmarks style. Read
result dicts only.

A data set is one (task, model): every build point of every index run on it is drawn on ONE chart, and
each index (by name) gets its own Pareto front (methods.md §6.4, `harness.pareto.pareto_front`) over
all its (build, query) points: a point stays when no point of the same index has both higher recall
and higher QPS.

- `plot_recall_vs_qps`: recall_tie@10 against exact search (x) vs single-thread batch QPS (y, log);
- `plot_ndcg_vs_qps`: the same with nDCG@10 against the qrels (retrieval data sets only);
- `table_pareto_points`: per data set the recall-front points with their parameters, nDCG@10,
  QPS, latency p50/p99, build time, index size and peak build memory.

Colours and markers are fixed per index name (the registry's order, then other names sorted), so an
index looks the same on every chart.
"""
from __future__ import annotations

from pathlib import Path

from harness.pareto import pareto_front
from harness.report_plots import plain_log_axis

from . import pyplot, save_figure, slug

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p", "d", "H", "8", "1")
MB = 1e6


# ------------------------------------------------------------------------------------------ reading
def _sweeps(results: list[dict]) -> list[dict]:
    """Results shaped as an ANN sweep (details with a dataset and a list of point records)."""
    out = []
    for r in results:
        d = r.get("details") or {}
        if r.get("status", "ok") == "ok" and isinstance(d.get("points"), list) and isinstance(d.get("dataset"), dict):
            out.append(r)
    return out


def _datasets(results: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """(task, model) -> its sweep results, in a stable order."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in _sweeps(results):
        groups.setdefault((str(r.get("task")), str(r.get("model"))), []).append(r)
    return dict(sorted(groups.items()))


def _index(r: dict) -> dict:
    return (r.get("details") or {}).get("index") or {}


def index_name(r: dict) -> str:
    return str(_index(r).get("name") or (r.get("index") or {}).get("name") or "index")


def _k(r: dict) -> int:
    return int(((r.get("details") or {}).get("ground_truth") or {}).get("k") or 10)


def _recall(point: dict, k: int):
    return next((point[key] for key in (f"recall_tie@{k}", f"recall@{k}") if _num(point.get(key))), None)


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def points_of(group: list[dict], metric: str) -> dict[str, list[tuple[float, float, dict, dict]]]:
    """Per index name: (quality, qps, point record, result) for every point that has both; quality is
    recall@k (metric "recall") or nDCG@k (metric "ndcg")."""
    out: dict[str, list] = {}
    for r in sorted(group, key=lambda r: (index_name(r), _index(r).get("label") or "")):
        k = _k(r)
        for p in r["details"]["points"]:
            q = _recall(p, k) if metric == "recall" else p.get(f"ndcg@{k}")
            if _num(q) and _num(p.get("qps")):
                out.setdefault(index_name(r), []).append((float(q), float(p["qps"]), p, r))
    return out


def front_records(pts: list[tuple[float, float, dict, dict]]) -> list[tuple[float, float, dict, dict]]:
    """The records on the index's Pareto front (harness.pareto), in the front's order (recall rising)."""
    front = pareto_front([(x, y) for x, y, _, _ in pts])
    chosen = []
    for fx, fy in front:   # the first record with those exact values (equal (x, y) points are one point)
        chosen.append(next(rec for rec in pts if rec[0] == fx and rec[1] == fy))
    return chosen


def index_styles(names) -> dict[str, tuple[str, str]]:
    """name -> (colour, marker): registered indexes in the registry's order, then any other name sorted."""
    try:
        from harness.registry import INDEXES
        known = list(INDEXES)
    except Exception:   # noqa: BLE001  (a plot must draw without the registry)
        known = []
    order = known + sorted(set(names) - set(known))
    return {n: (PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]) for i, n in enumerate(order) if n in names}


def dataset_title(group: list[dict]) -> str:
    ds = group[0]["details"]["dataset"]
    n, dim = ds.get("n"), ds.get("dim")
    parts = [f"n={n:,}" if isinstance(n, int) else None, f"dim={dim}" if dim else None,
             f"metric {ds.get('metric')}" if ds.get("metric") else None,
             f"{ds['n_queries']:,} queries" if isinstance(ds.get("n_queries"), int) else None]
    return f"{ds.get('name') or group[0].get('task')} ({', '.join(p for p in parts if p)})"


# ------------------------------------------------------------------------------------------ plots
def _plot(results: list[dict], out_dir: Path, metric: str) -> list[Path]:
    plt = pyplot()
    made = []
    for (task, model), group in _datasets(results).items():
        by_index = points_of(group, metric)
        if not by_index:
            continue          # e.g. nDCG on a data set without qrels
        k = _k(group[0])
        styles = index_styles(by_index)
        fig, ax = plt.subplots(figsize=(7.4, 4.9))
        xs_all = []
        for name in styles:
            pts = by_index[name]
            colour, marker = styles[name]
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=24, color=colour, marker=marker, alpha=0.3,
                       linewidths=0)
            front = front_records(pts)
            builds, n = len({id(p[3]) for p in pts}), len(pts)
            ax.plot([p[0] for p in front], [p[1] for p in front], "-", marker=marker, color=colour, ms=5.5,
                    lw=1.6, label=f"{name} ({builds} build{'s' * (builds != 1)}, {n} point{'s' * (n != 1)})")
            xs_all += [p[0] for p in pts]
        ax.set_yscale("log")
        lo, hi = min(xs_all), max(xs_all)
        pad = max(0.004, 0.04 * (hi - lo))
        ax.set_xlim(max(0.0, lo - pad), min(1.0, hi) + pad)
        what = "recall" if metric == "recall" else "nDCG"
        ax.set_xlabel(f"recall@{k} against exact search (tie-aware)" if metric == "recall"
                      else f"nDCG@{k} against the qrels")
        ax.set_ylabel("queries per second, 1 thread, batch (log scale)")
        ax.set_title(f"{dataset_title(group)}\n{model}, task {task}: {what} vs QPS, Pareto front per index",
                     fontsize=10)
        ax.grid(True, which="both", alpha=0.25)
        plain_log_axis(ax)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=min(3, len(by_index)), fontsize=8,
                  frameon=False, title="index: Pareto front (line) and every (build, query) point (faint); "
                  "up and to the right is better", title_fontsize=8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        stem = "recall-vs-qps" if metric == "recall" else "ndcg-vs-qps"
        made.append(save_figure(fig, Path(out_dir) / f"{stem}-{slug(task, model)}.png", tight=True))
    return made


def plot_recall_vs_qps(results: list[dict], result_paths: list[Path], out_dir: Path) -> list[Path]:
    return _plot(results, out_dir, "recall")


def plot_ndcg_vs_qps(results: list[dict], result_paths: list[Path], out_dir: Path) -> list[Path]:
    return _plot(results, out_dir, "ndcg")


# ------------------------------------------------------------------------------------------ table
def _params_text(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "defaults"


def build_text(r: dict) -> str:
    """The build point as the grid gave it (the label's parameters); every value is in details.index.build."""
    label = str(_index(r).get("label") or "")
    inner = label[label.find("(") + 1: label.rfind(")")] if "(" in label and label.endswith(")") else ""
    if inner:
        return inner.replace(";", ", ")
    build = {k: v for k, v in (_index(r).get("build") or {}).items() if k != "metric"}
    return _params_text(build) if not label else "defaults"


def _mb(v):
    return float(v) / MB if _num(v) else None


def table_pareto_points(results: list[dict], result_paths: list[Path]) -> list[dict]:
    tables = []
    for (task, model), group in _datasets(results).items():
        by_index = points_of(group, "recall")
        if not by_index:
            continue
        k = _k(group[0])
        has_ndcg = any(_num(p.get(f"ndcg@{k}")) for r in group for p in r["details"]["points"])
        columns = ["index", "build", "query", f"recall@{k}"] + ([f"nDCG@{k}"] if has_ndcg else []) + \
            ["QPS", "p50 ms", "p99 ms", "build s", "size MB", "build peak MB"]
        rows = []
        for name in sorted(by_index):
            for recall, qps, p, r in front_records(by_index[name]):
                build, lat = r["details"].get("build") or {}, p.get("latency_ms") or {}
                rows.append([name, build_text(r), _params_text(p.get("query") or {}), recall]
                            + ([p.get(f"ndcg@{k}")] if has_ndcg else [])
                            + [qps, lat.get("p50"), lat.get("p99"), build.get("seconds"), _mb(build.get("size_bytes")),
                               _mb(build.get("peak_memory_bytes"))])
        repeats = sorted({p.get("repeats") for pts in by_index.values() for _, _, p, _ in pts if p.get("repeats")})
        tables.append({
            "title": f"{dataset_title(group)}, {model}: Pareto points (recall@{k} vs QPS)",
            "columns": columns, "rows": rows,
            "note": (f"Each index's Pareto front over all its build and query points (methods.md §6.4): a point "
                     f"stays when no point of the same index has both higher recall@{k} and higher QPS. recall@{k}: "
                     f"tie-aware, against exact search; QPS: one thread, batch, best of "
                     f"{'/'.join(map(str, repeats)) or '?'} repeats; p50 / p99 ms: latency percentiles, one query "
                     "at a time; build s, size MB, build peak MB: build time, index size and peak memory of the "
                     "build (MB = 10^6 bytes). Build parameters as the grid gave them (the others at the adapter's "
                     "defaults).")})
    return tables
