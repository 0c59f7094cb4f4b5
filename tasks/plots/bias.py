"""Plots for the bias tasks, from result dicts only.

- `plot_effect_sizes`: WEAT/SEAT effect size per test, one bar per model, each bar labelled with its
  permutation p-value (stars: * p < .05, ** p < .01, *** p < .001); NaN tests are marked "n/a"
  with the reason in the result. One figure per task (WEAT, SEAT, ...).
- `plot_direct_bias`: DirectBias_c per model (all professions and the gender-neutral subset).
Results of other task types and failed results are skipped.
"""
from __future__ import annotations

from pathlib import Path

from harness.report_fields import is_number as _finite

from . import pyplot, save_figure, slug


def _ok(results, result_paths, pred):
    for res, path in zip(results, result_paths):
        if res.get("task_type") == "bias" and res.get("status") == "ok" and pred(res):
            yield res, path


def p_label(p) -> str:
    if not _finite(p):
        return ""
    stars = "***" if p < 1e-3 else "**" if p < 1e-2 else "*" if p < 0.05 else ""
    return f"p={p:.2g}{stars}"


def plot_effect_sizes(results: list[dict], result_paths: list[Path], out_dir: Path) -> list[Path]:
    plt = pyplot()
    import numpy as np

    by_task: dict[str, list[dict]] = {}
    for res, _ in _ok(results, result_paths, lambda r: isinstance(r.get("details", {}).get("tests"), list)):
        by_task.setdefault(res["task"], []).append(res)
    made = []
    for task, group in sorted(by_task.items()):
        models = sorted({str(r.get("model")) for r in group})
        rows = {str(r.get("model")): {t["test"]: t for t in r["details"]["tests"]} for r in group}
        tests = list(dict.fromkeys(t for r in group for t in (x["test"] for x in r["details"]["tests"])))
        n_t, n_m = len(tests), len(models)
        height = 1.0 / (n_m + 1)
        fig, ax = plt.subplots(figsize=(9, max(3.0, 0.22 * n_t * n_m + 0.5 * n_t * (n_m == 1) + 1.2)))
        colors = plt.get_cmap("tab10")
        for k, model in enumerate(models):
            ys = np.arange(n_t) + (k - (n_m - 1) / 2) * height
            d = np.array([rows[model].get(t, {}).get("effect_size", np.nan) for t in tests], dtype=float)
            d = np.where([_finite(v) for v in d], d, np.nan)
            ax.barh(ys, np.nan_to_num(d), height=height * 0.9, color=colors(k % 10), label=model)
            for y, t, v in zip(ys, tests, d):
                row = rows[model].get(t)
                if row is None:
                    continue
                if not np.isfinite(v):
                    ax.text(0, y, " n/a", va="center", ha="left", fontsize=6, color="0.4")
                    continue
                ax.text(v + (0.03 if v >= 0 else -0.03), y, p_label(row.get("p_value")), va="center",
                        ha="left" if v >= 0 else "right", fontsize=6)
        ax.set_yticks(np.arange(n_t))
        ax.set_yticklabels(tests, fontsize=7)
        ax.invert_yaxis()
        ax.axvline(0, color="black", linewidth=0.6)
        lim = max(2.0, np.nanmax([abs(t.get("effect_size")) for r in group for t in r["details"]["tests"]
                                  if _finite(t.get("effect_size"))] or [1.0]) + 0.6)
        ax.set_xlim(-lim, lim)
        ddof = group[0].get("details", {}).get("effect_size_ddof", 1)
        ax.set_xlabel(f"effect size d (ddof={ddof}; > 0: X closer to A than Y is)")
        ax.set_title(f"{task}: effect size per test, one-sided permutation p-value")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        made.append(save_figure(fig, Path(out_dir) / f"bias_effect_sizes_{slug(task)}.png", dpi=120))
    return made


def plot_direct_bias(results: list[dict], result_paths: list[Path], out_dir: Path) -> list[Path]:
    plt = pyplot()
    import numpy as np

    group = [r for r, _ in _ok(results, result_paths, lambda r: "direct_bias_1" in r.get("scores", {}))]
    if not group:
        return []
    made = []
    for task in sorted({r["task"] for r in group}):
        rs = sorted((r for r in group if r["task"] == task), key=lambda r: str(r.get("model")))
        names = [str(r.get("model")) for r in rs]
        x = np.arange(len(rs))
        fig, ax = plt.subplots(figsize=(max(4.5, 1.2 * len(rs) + 2), 3.8))
        for off, key, label in ((-0.2, "direct_bias_1", "all professions"),
                                (0.2, "direct_bias_1_neutral", "not gender-specific")):
            vals = [r["scores"].get(key) for r in rs]
            ax.bar(x + off, [v if _finite(v) else 0 for v in vals], width=0.38, label=label)
        for i, r in enumerate(rs):
            ev = r["scores"].get("explained_variance_ratio_1")
            if _finite(ev):
                ax.text(i, 0, f"PC1 {ev:.2f}", ha="center", va="bottom", fontsize=7, color="white")
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("DirectBias_1 = mean |cos(w, g)|")
        ax.set_title(f"{task}: gender direction bias (Bolukbasi et al. 2016)")
        ax.legend(fontsize=7)
        made.append(save_figure(fig, Path(out_dir) / f"bias_direct_bias_{slug(task)}.png", dpi=120))
    return made
