"""Plans jobs (models x tasks x indexes), runs them through an executor, writes one result each.

A job is identified by its `job_key` (task definition + dataset checksums + the model meta that
changes vectors + index parameters + seed). An existing result with the same key and status "ok"
is skipped (resume); `--overwrite` redoes it. A failing job is recorded with status "error" and
the run goes on; finished results are never lost because each is written atomically on its own.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import registry
from .errors import HarnessError
from .results import done_result, job_key, result_path, write_result
from .versions import library_versions


@dataclass(frozen=True)
class JobSpec:
    model: str
    task: str
    index: str | None = None

    @property
    def label(self) -> str:
        return f"{self.model} / {self.task}" + (f" / {self.index}" if self.index else "")


@dataclass
class RunSettings:
    results_dir: str
    data_root: str | None
    cache_dir: str | None
    overwrite: bool = False
    progress: bool = True
    task_params: dict = field(default_factory=dict)   # task name -> params overrides


@dataclass
class JobOutcome:
    spec: JobSpec
    status: str            # "ok" | "skipped" | "error"
    path: str | None
    main_score_name: str | None = None
    main_score: float | None = None
    seconds: float = 0.0
    error: str | None = None
    bad_input: bool = False


def plan(tasks: list[str], models: list[str], indexes: list[str] | None = None, *,
         task_params: dict | None = None, data_root: str | None = None) -> list[JobSpec]:
    """Every (model, task) pair; tasks that search an index get one job per index (default exact).

    Everything a user can get wrong fails here, before any job runs: task names and their
    `--task-params` (applied through `Task.set_params`), and each model's construction.
    """
    task_params = task_params or {}
    stray = sorted(set(task_params) - set(tasks))
    if stray:
        raise HarnessError(f"--task-params names task(s) not in this run: {', '.join(stray)}; "
                           f"tasks of this run: {', '.join(tasks)}")
    searches = {}
    for task_name in tasks:
        task = _construct("task", task_name, registry.make_task)
        task.set_params(**task_params.get(task_name, {}))
        searches[task_name] = getattr(task, "uses_index", False)
    # built in reverse so the first model of the run is the one left loaded (one at a time)
    for model in reversed(models):
        get_model(model, data_root)
    jobs = []
    for model in models:
        for task_name in tasks:
            for index in ((indexes or ["exact"]) if searches[task_name] else [None]):
                jobs.append(JobSpec(model, task_name, index))
    return jobs


def _construct(kind: str, name: str, factory, *args):
    """factory(name): a HarnessError as it is; any other failure becomes one naming the task or model."""
    try:
        return factory(name, *args)
    except HarnessError:
        raise
    except Exception as e:
        raise HarnessError(f"{kind} {name!r} cannot be constructed: {type(e).__name__}: {e}") from e


# The model of the current job, kept while jobs of the same model follow (loading MiniLM once serves
# every task of the run); at most one model is loaded per process, so a run over many models, or a
# worker serving several, holds one at a time.
_LOADED: dict = {}


def get_model(name: str, data_root: str | None = None):
    from .data import resolve_data_root
    root = resolve_data_root(data_root)
    key = (name, str(root))
    if key not in _LOADED:
        release_model()
        _LOADED[key] = _construct("model", name, lambda n: registry.make_model(n, data_root=root))
    return _LOADED[key]


def release_model() -> None:
    """Drop the loaded model and free its memory before another one loads."""
    if _LOADED:
        _LOADED.clear()
        import gc
        gc.collect()


def _index_spec(index) -> dict | None:
    if index is None:
        return None
    return index.spec() if hasattr(index, "spec") else {"name": getattr(index, "name", str(index))}


def run_job(spec: JobSpec, settings: RunSettings) -> JobOutcome:
    from .cache import EmbeddingCache
    from .data import resolve_data_root
    from .embedding import CachedModel
    from .model_meta import vector_meta

    t_start = time.perf_counter()
    path = None
    base: dict = {"task": spec.task, "model": spec.model, "index": None, "status": "error"}
    try:
        task = registry.make_task(spec.task)
        task.set_params(**settings.task_params.get(spec.task, {}))
        base.update(task.describe())
        index = registry.make_index(spec.index) if spec.index else None
        data_root = resolve_data_root(settings.data_root)
        cached = CachedModel(get_model(spec.model, settings.data_root), EmbeddingCache(settings.cache_dir),
                             progress=settings.progress)
        path = result_path(settings.results_dir, spec.model, task.name, spec.index)

        t0 = time.perf_counter()
        dataset = task.load(data_root)
        t_load = time.perf_counter() - t0

        meta = cached.meta   # fixed when the model was built (CachedModel checks it stays so)
        index_spec = _index_spec(index)
        definition = {**task.describe(), "dataset_sha256": dataset.sha256, "model": spec.model,
                      "model_meta": vector_meta(meta), "index": index_spec}
        key = job_key(definition)
        base = {**task.describe(), "model": spec.model, "model_revision": meta.get("revision"),
                "index": index_spec, "dataset": dataset.as_dict(), "job_key": key, "declared": task.declare({}),
                "status": "error"}
        stored = None if settings.overwrite else done_result(path, key)
        if stored is not None:
            return JobOutcome(spec, "skipped", str(path), task.main_score, stored["main_score"],
                              time.perf_counter() - t_start)

        t0 = time.perf_counter()
        out = task.evaluate(cached, index)
        t_total = time.perf_counter() - t0
        scores = out.scores if hasattr(out, "scores") else dict(out)
        if task.main_score not in scores:
            raise HarnessError(f"task {task.name} did not produce its main score {task.main_score!r}")
        for name, arr in getattr(out, "sidecars", {}).items():
            _write_sidecar(path, name, arr)
        timings = {"load": t_load, "encode": cached.stats["encode_s"],
                   "evaluate": max(0.0, t_total - cached.stats["encode_s"])}
        result = {**base, "declared": task.declare(scores), "main_score": scores[task.main_score], "scores": scores,
                  "details": getattr(out, "details", {}),
                  "embedding_cache": {"encoded": cached.stats["encoded"], "cached": cached.stats["cached"]},
                  "versions": library_versions(), "timings_s": timings, "status": "ok", "error": None}
        if index is not None and hasattr(index, "stats"):
            result["index_stats"] = index.stats()
        write_result(path, result)
        main = scores[task.main_score]
        return JobOutcome(spec, "ok", str(path), task.main_score, None if main is None else float(main),
                          time.perf_counter() - t_start)
    except Exception as e:  # one job's failure never stops the others
        message = f"{type(e).__name__}: {e}"
        if path is not None:
            try:
                write_result(path, {**base, "main_score": None, "scores": {}, "versions": library_versions(),
                                    "error": message, "traceback": traceback.format_exc(limit=8)})
            except Exception as w:   # the outcome still reports the job's own error
                message += f" (its error result could not be written: {w})"
        return JobOutcome(spec, "error", str(path) if path else None, seconds=time.perf_counter() - t_start,
                          error=message, bad_input=isinstance(e, HarnessError))


def _write_sidecar(result_file: Path, name: str, arr) -> Path:
    from .io import save_npy
    return save_npy(Path(result_file).with_name(Path(result_file).stem + f".{name}.npy"), arr)


def sweep_stale_temp_files(results_dir: str, older_than_s: float = 60.0) -> int:
    """Remove temp files a killed run left behind (never a finished result: those are renamed)."""
    removed = 0
    root = Path(results_dir)
    if root.is_dir():
        now = time.time()
        for f in root.rglob(".*.tmp"):
            if f.is_file() and now - f.stat().st_mtime > older_than_s:
                f.unlink(missing_ok=True)
                removed += 1
    return removed


def run(jobs: list[JobSpec], settings: RunSettings, executor) -> list[JobOutcome]:
    from .progress import progress_bar
    if not getattr(executor, "shares_process", False):
        release_model()   # the workers load their own; planning's copy would only hold memory here
    sweep_stale_temp_files(settings.results_dir)
    outcomes = []
    with progress_bar(total=len(jobs), desc="jobs", unit="job", disable=not settings.progress) as bar:
        for outcome in executor.map(run_job, jobs, settings):
            outcomes.append(outcome)
            bar.set_postfix_str(f"{outcome.spec.label}: {outcome.status}", refresh=False)
            bar.update(1)
    order = {s: i for i, s in enumerate(jobs)}
    return sorted(outcomes, key=lambda o: order[o.spec])


def summary_table(outcomes: list[JobOutcome]) -> str:
    rows = [("model", "task", "index", "status", "main score", "value", "seconds")]
    for o in outcomes:
        value = "" if o.main_score is None else f"{o.main_score:.5f}"
        rows.append((o.spec.model, o.spec.task, o.spec.index or "-", o.status, o.main_score_name or "-", value,
                     f"{o.seconds:.1f}"))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    errors = [f"  {o.spec.label}: {o.error}" for o in outcomes if o.status == "error"]
    if errors:
        lines += ["", "errors:"] + errors
    return "\n".join(lines)


def outcome_dict(o: JobOutcome) -> dict:
    d = asdict(o)
    d["spec"] = asdict(o.spec)
    return d
