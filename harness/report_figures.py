"""Which plots the report draws, and drawing them so that no plot can lose the report.

Per task: the generic main-score bars and the QPS-vs-recall Pareto plot (`report_plots`), then each
plot function the task declares (`declared.plots`, "module:plot_function"), called once with that
task's ok results: `plot_x(results: list[dict], result_paths: list[Path], out_dir: Path) -> list[Path]`.
Only attributes whose name starts with `plot_` are called. A task that declares a plot function named
for both QPS and recall (`plot_recall_vs_qps`) draws its own QPS-vs-recall chart: the generic Pareto
plot is then left out rather than drawn twice. Per model: its profile over the ranked tasks. A failing
import or plot becomes a warning note.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .report_entries import Entry, page_slug
from .report_fields import declared_function


@dataclass
class PlotSet:
    by_task: dict[str, list[Path]] = field(default_factory=dict)
    by_model: dict[str, list[Path]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def all(self) -> list[Path]:
        return sorted({p for ps in list(self.by_task.values()) + list(self.by_model.values()) for p in ps})


def plot_function(target: str):
    """The callable a `declared.plots` entry names (a ValueError or ImportError says why not)."""
    return declared_function(target, "plot_")


def declared_plots(group: list[Entry]) -> list[str]:
    """The plot functions a task's results declare, in order, each once."""
    return list(dict.fromkeys(t for e in group for t in e.declared.plots))


def draws_own_pareto(targets: list[str]) -> bool:
    """The task declares its own QPS-vs-recall plot (a function named with both words)."""
    names = [t.partition(":")[2].lower() for t in targets]
    return any("qps" in n and "recall" in n for n in names)


def render_plots(entries: list[Entry], plots_dir: Path) -> PlotSet:
    from . import report_plots as rp
    plots_dir.mkdir(parents=True, exist_ok=True)
    out = PlotSet()
    colors = rp.model_colors(sorted({e.model for e in entries}))
    tasks: dict[str, list[Entry]] = {}
    for e in entries:
        tasks.setdefault(e.task, []).append(e)
    for task, group in tasks.items():
        ok = [e for e in group if e.ok]
        slug = page_slug(task)
        paths: list[Path] = []
        if ok:
            paths += _guarded(out, f"{task}: bars", rp.plot_task_bars, ok, plots_dir / f"bars-{slug}.png", colors)
            if not draws_own_pareto(declared_plots(ok)):
                paths += _guarded(out, f"{task}: pareto", rp.plot_pareto, ok, plots_dir / f"pareto-{slug}.png",
                                  colors)
            paths += _family(out, task, ok, plots_dir / f"{slug}-family")
        out.by_task[task] = paths
    for model in sorted({e.model for e in entries}):
        mine = [e for e in entries if e.model == model and e.ok and e.in_overall]
        if mine:
            out.by_model[model] = _guarded(out, f"{model}: profile", rp.plot_model_profile, model, mine,
                                           plots_dir / f"model-{page_slug(model)}.png", colors)
    return out


def _family(out: PlotSet, task: str, ok: list[Entry], fam_dir: Path) -> list[Path]:
    made: list[Path] = []
    for target in declared_plots(ok):
        try:
            fn = plot_function(target)
        except Exception as e:   # noqa: BLE001  (a broken plot module must not stop the report)
            out.warnings.append(f"plot {target} for {task}: not loaded: {type(e).__name__}: {e}")
            continue
        fam_dir.mkdir(parents=True, exist_ok=True)
        made += _guarded(out, f"{target} for {task}", fn, [e.plot_result for e in ok], [e.path for e in ok], fam_dir)
    if fam_dir.is_dir() and not any(fam_dir.iterdir()):
        fam_dir.rmdir()
    return made


def _guarded(plots: PlotSet, what: str, fn, *args) -> list[Path]:
    """A plot that fails becomes a warning on the site, never a lost report."""
    try:
        made = fn(*args)
    except Exception as e:   # noqa: BLE001
        plots.warnings.append(f"plot {what} failed: {type(e).__name__}: {e}")
        return []
    if made is None:
        return []
    made = [made] if isinstance(made, (str, Path)) else list(made)
    return [Path(p) for p in made if Path(p).is_file()]
