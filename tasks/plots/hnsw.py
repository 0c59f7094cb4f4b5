"""Plots for the HNSW insertion-order and ranking-shift tasks (PNG, matplotlib Agg). Read result dicts only.

- `plot_recall_vs_ef`: per result (data set x model), one panel per (library, build): recall_tie@k vs
  efSearch, a line per non-random order, the random orders as their mean with a ±2 std band.
- `plot_order_effects`: per result, one panel per library: each order's effect (pp against the
  random mean) at every ef, with ±2 x random-std error bars; hatched bars are within noise (not flagged).
- `plot_ranking_shift`: per ranking-shift task, one panel per library: model rank by exact nDCG@10
  (left) vs by HNSW nDCG@10 (right) at the main ef, Kendall τ in the title.
Functions return [] for results of other task types, so one module can serve both task families.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import pyplot, save_figure, slug


def _order_results(results):
    return [r for r in results if r.get("task_type") == "hnsw-order" and r.get("status", "ok") == "ok"
            and (r.get("details") or {}).get("sweep")]


def plot_recall_vs_ef(results: list[dict], result_paths: list[Path], out_dir: Path) -> list[Path]:
    plt = pyplot()
    made = []
    for r in _order_results(results):
        sweep = r["details"]["sweep"]
        panels = sorted({(s["library"], s["build"]) for s in sweep})
        fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
        for ax, (lib, build) in zip(axes[0], panels):
            recs = [s for s in sweep if s["library"] == lib and s["build"] == build]
            efs = sorted({s["ef"] for s in recs})
            rand = np.array([[s["recall_tie"] for s in recs if s["ef"] == ef and s["order"].startswith("random:")]
                             for ef in efs], dtype=float)
            if rand.size:
                mean, std = rand.mean(axis=1), rand.std(axis=1, ddof=1) if rand.shape[1] > 1 else 0 * rand[:, 0]
                ax.plot(efs, mean, color="black", lw=1.8, label=f"random (mean of {rand.shape[1]})")
                ax.fill_between(efs, mean - 2 * std, mean + 2 * std, color="black", alpha=0.15, lw=0,
                                label="random ±2 std")
            others = sorted({s["order"] for s in recs if not s["order"].startswith("random:")})
            for order in others:
                ys = [next(s["recall_tie"] for s in recs if s["ef"] == ef and s["order"] == order) for ef in efs]
                ax.plot(efs, ys, marker="o", ms=3, lw=1.2, label=order)
            ax.set_xscale("log", base=2)
            ax.set_xticks(efs, [str(e) for e in efs])
            ax.set_xlabel("efSearch")
            ax.set_ylabel(f"recall_tie@{r['details'].get('k', 10)}")
            ax.set_title(f"{lib}, {build}", fontsize=9)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, frameon=False)
        fig.suptitle(f"{r['task']}: recall vs efSearch by insertion order ({r['details']['source'].get('name', '')})",
                     fontsize=9)
        made.append(save_figure(fig, Path(out_dir) / f"recall-vs-ef-{slug(r['task'], r['model'])}.png", tight=True))
    return made


def plot_order_effects(results: list[dict], result_paths: list[Path], out_dir: Path) -> list[Path]:
    plt = pyplot()
    from matplotlib.patches import Patch
    made = []
    for r in _order_results(results):
        d = r["details"]
        main_build = d.get("main_build")
        effects = [e for e in d.get("effects", []) if e["build"] == main_build]
        if not effects:
            continue
        libs = sorted({e["library"] for e in effects})
        fig, axes = plt.subplots(1, len(libs), figsize=(5.2 * len(libs), 3.6), squeeze=False, sharey=True)
        for ax, lib in zip(axes[0], libs):
            mine = [e for e in effects if e["library"] == lib]
            orders = list(dict.fromkeys(e["order"] for e in mine))
            efs = sorted({e["ef"] for e in mine})
            width = 0.8 / len(efs)
            cmap = plt.get_cmap("viridis")
            handles = []
            for j, ef in enumerate(efs):
                xs, ys, errs, flags = [], [], [], []
                for i, order in enumerate(orders):
                    e = next((e for e in mine if e["order"] == order and e["ef"] == ef), None)
                    if e is None:
                        continue
                    xs.append(i - 0.4 + width * (j + 0.5))
                    ys.append(e["effect_pp"])
                    errs.append(2 * e["random_std_pp"] if e["random_std_pp"] == e["random_std_pp"] else 0)
                    flags.append(e["flagged"])
                color = cmap(j / max(1, len(efs) - 1) * 0.85)
                bars = ax.bar(xs, ys, width, yerr=errs, color=color, capsize=2, error_kw={"lw": 0.8})
                handles.append(Patch(facecolor=color, label=f"ef={ef}"))
                for b, flagged in zip(bars, flags):
                    if not flagged:
                        b.set_hatch("////")
                        b.set_alpha(0.45)
            ax.axhline(0, color="black", lw=0.8)
            ax.set_xticks(range(len(orders)), orders, rotation=20)
            ax.set_ylabel("effect vs random mean (pp)")
            ax.set_title(f"{lib}, {main_build}", fontsize=9)
            ax.grid(alpha=0.3, axis="y")
            ax.legend(handles=handles + [Patch(facecolor="white", edgecolor="grey", hatch="////",
                                               label="|effect| <= 2 std")], fontsize=7, frameon=False)
        fig.suptitle(f"{r['task']}: insertion-order effect (error bars ±2 random std; hatched = within noise)",
                     fontsize=9)
        made.append(save_figure(fig, Path(out_dir) / f"order-effect-{slug(r['task'], r['model'])}.png", tight=True))
    return made


def plot_ranking_shift(results: list[dict], result_paths: list[Path], out_dir: Path) -> list[Path]:
    from tasks.ranking_shift import ranking_table
    rows = ranking_table(results)
    if not rows:
        return []
    plt = pyplot()
    made = []
    main_ef = {r["task"]: (r.get("details") or {}).get("main_ef") for r in results
               if r.get("task_type") == "ranking-shift"}
    for task in sorted({row["task"] for row in rows}):
        mine = [row for row in rows if row["task"] == task and row["ef"] == main_ef.get(task)]
        if not mine:
            continue
        fig, axes = plt.subplots(1, len(mine), figsize=(4.4 * len(mine), 3.4), squeeze=False)
        for ax, row in zip(axes[0], mine):
            n = row["n_models"]
            for m, v in row["models"].items():
                ax.plot([0, 1], [v["rank_exact"], v["rank_hnsw"]], marker="o")
                ax.annotate(m, (0.5, (v["rank_exact"] + v["rank_hnsw"]) / 2),
                            xytext=(0, 4), textcoords="offset points", ha="center", va="bottom", fontsize=7)
                ax.annotate(f"{v['exact_ndcg_at_10']:.3f}", (0, v["rank_exact"]), xytext=(-6, 0),
                            textcoords="offset points", ha="right", va="center", fontsize=7)
                ax.annotate(f"{v['hnsw_ndcg_at_10']:.3f}", (1, v["rank_hnsw"]), xytext=(6, 0),
                            textcoords="offset points", ha="left", va="center", fontsize=7)
            ax.set_xlim(-0.45, 1.45)
            ax.set_ylim(n + 0.5, 0.5)
            ax.set_xticks([0, 1], ["exact", f"HNSW ef={row['ef']}"])
            ax.set_yticks(range(1, n + 1))
            ax.set_ylabel("rank by nDCG@10")
            ax.set_title(f"{row['library']}: Kendall τ={row['kendall_tau']:.2f}, max shift "
                         f"{row['max_position_change']}", fontsize=9)
        fig.suptitle(f"{task}: model ranking, exact vs HNSW search", fontsize=9)
        made.append(save_figure(fig, Path(out_dir) / f"ranking-shift-{slug(task)}.png", tight=True))
    return made
