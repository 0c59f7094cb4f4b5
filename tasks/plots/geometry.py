"""Plots for the geometry tasks, from result dicts and their sidecar .npy files only.

- `plot_lid_histogram`: distribution of pointwise LID per model (sidecar `<result stem>.lid.npy`),
  one figure per IntrinsicDimension task, the models overlaid as step histograms on shared bins.
- `plot_singular_spectrum`: sigma_i / sigma_1 against rank i (log-log) per model (sidecar
  `<result stem>.singular_values.npy`), one figure per Spectrum task, RankMe in the legend.
Results of other task types, failed results and missing sidecars are skipped.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.io import load_npy

from . import pyplot, save_figure, slug


def _sidecar(result_path, key: str) -> Path:
    p = Path(result_path)
    return p.with_name(f"{p.stem}.{key}.npy")


def _groups(results, result_paths, task_type: str, key: str) -> dict[str, list[tuple[str, np.ndarray, dict]]]:
    """task name -> [(model, sidecar array, result)] for ok results of one type that have the sidecar."""
    out: dict[str, list] = {}
    for res, path in zip(results, result_paths):
        if res.get("task_type") != task_type or res.get("status") != "ok":
            continue
        side = _sidecar(path, key)
        if not side.is_file():
            continue
        arr = load_npy(side, f"{res['task']} sidecar '{key}'")
        out.setdefault(res["task"], []).append((str(res.get("model")), arr, res))
    return out


def plot_lid_histogram(results: list[dict], result_paths: list[Path], out_dir: Path) -> list[Path]:
    plt = pyplot()
    made = []
    for task, entries in _groups(results, result_paths, "intrinsic-dimension", "lid").items():
        values = [(m, a[np.isfinite(a)], r) for m, a, r in entries]
        values = [v for v in values if len(v[1])]
        if not values:
            continue
        pooled = np.concatenate([v for _, v, _ in values])
        lo, hi = np.percentile(pooled, [0.5, 99.5])   # clip the long right tail of tiny neighbourhoods
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 60)
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for model, v, r in values:
            k = r.get("params", {}).get("lid_k")
            ax.hist(np.clip(v, bins[0], bins[-1]), bins=bins, histtype="step", density=True, linewidth=1.4,
                    label=f"{model} (median {np.median(v):.1f}, MLE {r['scores'].get('mle', float('nan')):.1f})")
        ax.set_xlabel(f"pointwise LID (Amsaleg, k = {k})")
        ax.set_ylabel("density")
        ax.set_title(f"{task}: local intrinsic dimension per point")
        ax.legend(fontsize=8)
        made.append(save_figure(fig, Path(out_dir) / f"lid-histogram-{slug(task)}.png"))
    return made


SPECTRUM_FLOOR = 1e-6   # sigma_i / sigma_1 below this is not drawn


def plot_singular_spectrum(results: list[dict], result_paths: list[Path], out_dir: Path) -> list[Path]:
    plt = pyplot()
    made = []
    for task, entries in _groups(results, result_paths, "spectrum", "singular_values").items():
        fig, ax = plt.subplots(figsize=(7, 4.2))
        drawn = 0
        for model, s, r in entries:
            s = np.asarray(s, dtype=np.float64)
            dims = len(s)
            # below 1e-6 sigma_1 a singular value is rounding noise (a direction the vectors never use);
            # drawn, one such value would stretch the axis to 1e-16 and flatten the real spectrum
            s = s[s > (s.max() if dims else 0) * SPECTRUM_FLOOR]
            if not len(s):
                continue
            hidden = f", {dims - len(s)} below {SPECTRUM_FLOOR:g} not drawn" if len(s) < dims else ""
            ax.loglog(np.arange(1, len(s) + 1), s / s[0], linewidth=1.4,
                      label=f"{model} (RankMe {r['scores'].get('rankme', float('nan')):.1f} of {dims}{hidden})")
            drawn += 1
        if not drawn:
            plt.close(fig)
            continue
        ax.set_xlabel("rank i")
        ax.set_ylabel("sigma_i / sigma_1 (raw embeddings)")
        ax.set_title(f"{task}: normalised singular-value spectrum")
        ax.legend(fontsize=8)
        made.append(save_figure(fig, Path(out_dir) / f"singular-spectrum-{slug(task)}.png"))
    return made
