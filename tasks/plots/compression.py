"""Quality against bytes per vector for the compression sweep (tasks/compression.py). Reads result dicts only.

One chart per (task, model): every (dim, precision, rescoring) point as score (y) against bytes per vector
(x, log), coloured by precision, hollow when rescored, labelled with its dimension; the Pareto front (no
other point is both smaller and better, `harness.pareto.pareto_front`) is drawn as a line. The table lists
every point with its score, percent of the float32 full-dimension score, bytes, compression ratio, search
QPS and whether it is on the front.
"""
from __future__ import annotations

from pathlib import Path

from harness.pareto import pareto_front

from . import pyplot, save_figure, slug

COLOURS = {"float32": "#1f77b4", "float16": "#2ca02c", "int8": "#ff7f0e", "uint8": "#8c564b", "binary": "#d62728",
           "ubinary": "#9467bd"}


def _sweeps(results: list[dict]) -> dict[tuple[str, str], dict]:
    """(task, model) -> the latest ok result shaped as a compression sweep."""
    out = {}
    for r in results:
        d = r.get("details") or {}
        if r.get("status", "ok") == "ok" and isinstance(d.get("points"), list) and "full_dim" in d:
            out[(str(r.get("task")), str(r.get("model")))] = r
    return dict(sorted(out.items()))


def front_keys(points: list[dict]) -> set[str]:
    """Keys of the points on the quality-vs-bytes Pareto front (fewer bytes and higher score are better)."""
    front = set(pareto_front([(p["bytes_per_vector"], p["score"]) for p in points if p.get("score") is not None],
                             higher_x=False, higher_y=True))
    return {p["key"] for p in points if (float(p["bytes_per_vector"]), float(p["score"] or 0)) in front}


def _rescore_label(r) -> str:
    return "off" if r is None else f"r={r}"


def plot_quality_vs_bytes(results: list[dict], result_paths: list[Path], out_dir: Path) -> list[Path]:
    plt = pyplot()
    written = []
    for (task, model), r in _sweeps(results).items():
        points = [p for p in r["details"]["points"] if p.get("score") is not None]
        if not points:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for prec in dict.fromkeys(p["precision"] for p in points):
            for resc in dict.fromkeys(p["rescore"] for p in points if p["precision"] == prec):
                pts = [p for p in points if p["precision"] == prec and p["rescore"] == resc]
                colour = COLOURS.get(prec, "#7f7f7f")
                ax.scatter([p["bytes_per_vector"] for p in pts], [p["score"] for p in pts], s=36,
                           facecolors="none" if resc else colour, edgecolors=colour,
                           label=f"{prec}, rescore {_rescore_label(resc)}")
                for p in pts:
                    ax.annotate(p["dim_label"], (p["bytes_per_vector"], p["score"]), fontsize=6,
                                xytext=(3, 2), textcoords="offset points")
        front = sorted(pareto_front([(p["bytes_per_vector"], p["score"]) for p in points], higher_x=False))
        ax.plot([x for x, _ in front], [y for _, y in front], color="black", lw=0.8, ls="--", label="Pareto front")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("bytes per vector (log)")
        ax.set_ylabel(r["details"].get("inner_main_score") or "score")
        ax.set_title(f"{task} / {model}: quality vs bytes", fontsize=9)
        ax.legend(fontsize=6, loc="lower right")
        ax.grid(alpha=0.3)
        written.append(save_figure(fig, Path(out_dir) / f"{slug('compression', task, model)}.png"))
    return written


def table_compression(results: list[dict], result_paths: list[Path]) -> list[dict]:
    tables = []
    for (task, model), r in _sweeps(results).items():
        d = r["details"]
        points = d["points"]
        full_bytes = 4 * int(d["full_dim"])
        on_front = front_keys(points)
        rows = [[p["dim_label"], p["precision"], _rescore_label(p["rescore"]), _round(p["score"], 5),
                 _round(p.get("pct_of_float32"), 2), p["bytes_per_vector"],
                 _round(full_bytes / p["bytes_per_vector"], 1) if p["bytes_per_vector"] else None,
                 _round(p.get("search_qps"), 0), p["key"] in on_front] for p in points]
        calib = d.get("calibration") or {}
        tables.append({"title": f"{task} / {model}: compression sweep ({d.get('inner_main_score')})",
                       "columns": ["dim", "precision", "rescore", "score", "% of float32", "bytes/vector",
                                   "x smaller", "search QPS", "Pareto"],
                       "rows": rows,
                       "note": f"int8 calibration: {calib.get('set')} ({calib.get('n')} vectors); QPS: queries per "
                               "second of one batched exhaustive search (retrieval only), machine-dependent."})
    return tables


def _round(v, n):
    return None if v is None else round(float(v), n)
