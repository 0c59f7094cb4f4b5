"""The significance layer as the report shows it: the win-probability heat map (PNG), the Markdown
section, the site's section and the CSV files (`report_significance` computes; this only draws)."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from .report_tables import md_escape
from .significance_ranks import Ranks

PAIR_COLUMNS = ["Task", "Model A", "Model B", "A - B (x 100)", "95% interval (x 100)", "p", "p (Holm)",
                "separable"]


def plot_win_probability(ranks: Ranks, out: Path) -> Path:
    """Heat map of P(row beats column), models in the table's order (best first)."""
    from .report_plots import styled_pyplot, save_png, short, text
    plt = styled_pyplot()
    m = len(ranks.models)
    win = np.array(ranks.win, dtype=float)
    np.fill_diagonal(win, np.nan)
    size = max(3.6, 0.55 * m + 2.2)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    img = ax.imshow(win, cmap="RdYlGn", vmin=0.0, vmax=1.0)
    labels = [text(short(x, 28)) for x in ranks.models]
    ax.set_xticks(range(m), labels, rotation=40, ha="right")
    ax.set_yticks(range(m), labels)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(True)
    ax.set_xlabel("column: the model beaten")
    ax.set_ylabel("row: the model that wins")
    if m <= 16:
        for i in range(m):
            for j in range(m):
                if i != j:
                    ax.text(j, i, f"{win[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="black" if 0.2 < win[i, j] < 0.8 else "white")
    fig.colorbar(img, ax=ax, fraction=0.046, pad=0.04, label="P(row beats column)")
    how = "Borda" if ranks.rank_by == "borda" else "mean score"
    ax.set_title(f"Win probability: {ranks.draws} draws of tasks and items, ranked by {how}")
    return save_png(fig, out)


def _pct(v: float) -> str:
    return "" if v is None or not np.isfinite(v) else f"{v * 100:.2f}"


def _p(v: float) -> str:
    return "" if v is None or not np.isfinite(v) else f"{v:.3g}"


def pair_rows(sig) -> list[list[str]]:
    """The paired tests as rows of text (PAIR_COLUMNS)."""
    rows = []
    for column, tests in sig.tests.items():
        for t in tests:
            rows.append([column, t.a, t.b, _pct(t.difference), f"[{_pct(t.low)}, {_pct(t.high)}]", _p(t.p_value),
                         _p(t.p_holm), "yes" if t.p_holm < sig.alpha else "no"])
    return rows


def method_text(sig) -> str:
    methods = sorted({t.method for ts in sig.tests.values() for t in ts}) or ["permutation"]
    return (f"Paired tests: every pair of models on a task, on the same items: a paired {' / '.join(methods)} "
            f"test (B = {sig.B}, seed {sig.seed}), the difference A - B with its 95% bootstrap interval, the "
            "p-values Holm-corrected across the pairs of the task; separable: Holm-adjusted p < "
            f"{sig.alpha:g}. Rank intervals and win probabilities: {sig.draws} draws, each resampling the tasks "
            "with replacement and, within each task, its items, ranking the models by Borda as the table does; "
            "P(A beats B) counts ties as half.")


def no_items_text(sig) -> str:
    return ("None of these results has per-item data (an `items` sidecar, `<result>.items.npy`, and "
            "`declared.items`): the scores are shown without paired tests, marks or rank intervals. Re-run "
            "the jobs with this version of the harness to add them.")


def markdown_lines(sig, md_dir: Path) -> list[str]:
    lines = ["## Significance", ""]
    if not sig.available:
        return lines + [f"_{md_escape(no_items_text(sig))}_", ""]
    lines += [f"_{md_escape(method_text(sig))}_", ""]
    if sig.heatmap is not None:
        rel = os.path.relpath(sig.heatmap, md_dir).replace(os.sep, "/")
        lines += [f"![win probability]({rel})", ""]
    rows = pair_rows(sig)
    if rows:
        lines += ["### Paired tests", "",
                  "| " + " | ".join(PAIR_COLUMNS) + " |",
                  "|---|---|---|" + "---:|" * 4 + "---|"]
        lines += ["| " + " | ".join(md_escape(c) for c in r) + " |" for r in rows]
        lines.append("")
    if sig.lacking:
        lines += [f"Without per-item data ({len(sig.lacking)} result file(s); no interval, test or item "
                  "resampling for them):", ""]
        lines += [f"- {md_escape(w)}" for w in sig.lacking[:20]]
        lines += ([f"- ... and {len(sig.lacking) - 20} more"] if len(sig.lacking) > 20 else []) + [""]
    lines += [f"- {md_escape(n)}" for n in sig.notes] + ([""] if sig.notes else [])
    return lines


def site_view(sig, page_dir: Path) -> dict:
    """What index.html's significance section shows (autoescaped there)."""
    if not sig.available:
        return {"text": no_items_text(sig), "heatmap": None, "tests": None, "notes": [], "lacking": []}
    heads = [{"label": c, "type": "num" if i in (3, 5, 6) else "text", "cls": "" if i in (3, 5, 6) else "txt",
              "href": None} for i, c in enumerate(PAIR_COLUMNS)]
    rows = [{"cls": "", "cells": [{"text": c, "cls": "" if i in (3, 5, 6) else "txt", "href": None, "tag": None,
                                   "sort": c if i in (3, 5, 6) else None} for i, c in enumerate(r)]}
            for r in pair_rows(sig)]
    heat = None
    if sig.heatmap is not None:
        heat = {"href": os.path.relpath(sig.heatmap, page_dir).replace(os.sep, "/"), "name": sig.heatmap.stem}
    return {"text": method_text(sig), "heatmap": heat, "tests": {"note": "", "headers": heads, "rows": rows},
            "notes": list(sig.notes), "lacking": list(sig.lacking)}


def _csv(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None or (isinstance(v, (float, np.floating)) and not np.isfinite(v))
                    else (repr(float(v)) if isinstance(v, (float, np.floating)) else v) for v in r])
    return buf.getvalue()


def csv_files(sig) -> dict[str, str]:
    """tables/<name>.csv -> text: intervals, paired tests, rank intervals and win probabilities (unrounded)."""
    out = {}
    if sig.intervals:
        out["intervals"] = _csv(["model", "task", "low", "high", "level", "method", "B", "seed", "n_items"],
                                [[m, c, b.get("low"), b.get("high"), b.get("level"), b.get("method"), b.get("B"),
                                  b.get("seed"), b.get("n_items")] for (m, c), b in sorted(sig.intervals.items())])
    tests = [t for ts in sig.tests.values() for t in ts]
    if tests:
        out["pairwise"] = _csv(["task", "model_a", "model_b", "difference", "low", "high", "p_value", "p_holm",
                                "method", "B", "seed", "n_items"],
                               [[t.task, t.a, t.b, t.difference, t.low, t.high, t.p_value, t.p_holm, t.method, t.B,
                                 t.seed, t.n_items] for t in tests])
    if sig.ranks:
        rows = []
        for key, r in sig.ranks.items():
            for i, m in enumerate(r.models):
                rows.append([key, m, int(r.rank[i]), int(r.low[i]), int(r.high[i]), r.p_leader[i], r.p_holm[i],
                             m in r.tied_with_leader(sig.alpha), r.draws, r.seed, r.rank_by])
        out["ranks"] = _csv(["table", "model", "rank", "rank_low", "rank_high", "p_vs_leader", "p_holm_vs_leader",
                             "not_separable_from_leader", "draws", "seed", "rank_by"], rows)
    if "overall" in sig.ranks:
        r = sig.ranks["overall"]
        out["win_probability"] = _csv(["model"] + r.models, [[m] + list(map(float, r.win[i]))
                                                              for i, m in enumerate(r.models)])
    return out
