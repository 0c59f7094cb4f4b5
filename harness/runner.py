"""Plans jobs (models x tasks x index points), runs them through an executor, writes one result each.

Index points come from grids (harness/index_grid.py, docs/index-grids.md): `JobSpec.index` holds a point
key, a plain string, so JobSpecs pickle to any executor (process pool, Dask) unchanged.

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

from . import index_grid, registry
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


def plan(tasks: list[str], models: list[str], indexes=None, *,
         task_params: dict | None = None, data_root: str | None = None) -> list[JobSpec]:
    """Every (model, task) pair; tasks that search an index get jobs per index point (harness/index_grid.py).

    `indexes`: short-form strings, {"name", "build", "query"} dicts or IndexGrids; None: each task's
    `default_indexes()`. A task with `uses_index` gets one job per (build point, query point), one
    with `sweeps_index` one job per build point. Everything a user can get wrong fails here, before
    any job runs: task names and their `--task-params` (applied through `Task.set_params`), each
    model's construction, and every index point (name, parameters, ranges: `check_point`).
    """
    task_params = task_params or {}
    stray = sorted(set(task_params) - set(tasks))
    if stray:
        raise HarnessError(f"--task-params names task(s) not in this run: {', '.join(stray)}; "
                           f"tasks of this run: {', '.join(tasks)}")
    built = {}
    for task_name in tasks:
        task = _construct("task", task_name, registry.make_task)
        task.set_params(**task_params.get(task_name, {}))
        built[task_name] = task
    # built in reverse so the first model of the run is the one left loaded (one at a time)
    dims = {}
    for model in reversed(models):
        dims[model] = get_model(model, data_root).meta.get("dim")
    given = index_grid.from_entries(indexes, "--indexes") if indexes else None
    keys = {name: _index_keys(task, given, set(dims.values()) or {None}) for name, task in built.items()}
    jobs = list(dict.fromkeys(JobSpec(model, name, key) for model in models for name in tasks for key in keys[name]))
    _check_distinct_paths(jobs, {name: task.name for name, task in built.items()})
    return jobs


def _index_keys(task, given, dims) -> list:
    """The JobSpec.index values of one task: [None] when it searches no index, else checked point keys."""
    sweeps, uses = getattr(task, "sweeps_index", False), getattr(task, "uses_index", False)
    if not (sweeps or uses):
        return [None]
    where = f"task {task.name}"
    grids = given if given is not None else index_grid.from_entries(
        getattr(task, "default_indexes", lambda: ["exact"])(), f"{where}: default_indexes()")
    points = index_grid.expand(grids)
    if not points:
        raise HarnessError(f"{where} searches an index but no index is given (--indexes or --index-config)")
    k = getattr(task, "index_k", None)
    for point in points:
        for dim in sorted(dims, key=lambda d: (d is None, d or 0)):
            try:
                check_point(point, dim=dim, k=k)
            except HarnessError as e:
                at = ", ".join(f"{n}={v}" for n, v in (("k", k), ("dim", dim)) if v is not None)
                raise HarnessError(f"{where}, index point {point.key}{f' ({at})' if at else ''}: {e}") from None
    if sweeps:
        return [p.key for p in points]
    return list(dict.fromkeys(p.at(q).key for p in points for q in p.query_points))


def check_point(point: index_grid.IndexPoint, *, dim: int | None = None, k: int | None = None) -> None:
    """Construct the index at this build point and run its `check` on every query point (nothing is built):
    an unknown index or parameter, or a value out of range, is a HarnessError naming the index, the
    parameter and the valid values."""
    probe = _construct("index", point.name, registry.make_index)
    build_ok, query_ok = getattr(probe, "BUILD_DEFAULTS", None), getattr(probe, "QUERY_DEFAULTS", None)
    for param in point.build if build_ok is not None else ():
        if param in (query_ok or {}) and param not in build_ok:
            raise HarnessError(f"{point.name} index: {param!r} is a query parameter, not a build parameter: give it "
                               f"in the query grid, {point.name}[{param}=...]; build parameters: {', '.join(build_ok)}")
        if param not in build_ok:
            raise HarnessError(f"{point.name} index: unknown build parameter {param!r}; valid: {', '.join(build_ok)}")
    for param, _ in point.query_grid if query_ok is not None else ():
        if param not in query_ok:
            raise HarnessError(f"{point.name} index: unknown query parameter {param!r}; valid: "
                               f"{', '.join(query_ok) or 'none'}")
        if param in point.build:
            raise HarnessError(f"{point.name} index: parameter {param!r} is in both the build and the query grid")
    index = _construct("index", point.key, lambda _: registry.make_index(point.name, **point.build))
    if hasattr(index, "check"):
        _construct("index", point.key, lambda _: index.check(query_points=point.query_points, dim=dim, k=k))


def _check_distinct_paths(jobs: list[JobSpec], task_names: dict) -> None:
    """Two index points whose keys differ only in characters a file name cannot hold must not share a file."""
    seen: dict = {}
    for job in jobs:
        path = result_path("", job.model, task_names[job.task], job.index)
        if seen.setdefault(path, job) != job:
            raise HarnessError(f"index points {seen[path].index!r} and {job.index!r} would write the same result "
                               f"file {path}; run them separately or with different --results folders")


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


def _make_index(spec: JobSpec, task):
    """(unbuilt index, query points) of a job: a sweeping task gets the build point and every query point;
    any other task an index whose query defaults are the job's one query point."""
    if not spec.index:
        return None, None
    point = index_grid.parse_point(spec.index)
    if getattr(task, "sweeps_index", False):
        return registry.make_index(point.name, **point.build), point.query_points
    if len(point.query_points) != 1:
        raise HarnessError(f"index point {spec.index!r} holds {len(point.query_points)} query points, but task "
                           f"{task.name} does not sweep an index: give it one query point per job")
    query = point.query_points[0]
    return registry.make_index(point.name, **{**point.build, **query}), [query]


def _index_block(index, point_key: str | None, query_points) -> dict | None:
    """The result's `index`: the adapter's spec, the point key and the query points searched."""
    if index is None:
        return None
    spec = index.spec() if hasattr(index, "spec") else {"name": getattr(index, "name", str(index))}
    return {**spec, "point": point_key, "query_points": query_points}


def run_job(spec: JobSpec, settings: RunSettings) -> JobOutcome:
    from .cache import EmbeddingCache
    from .data import resolve_data_root
    from .embedding import CachedModel
    from .model_meta import vector_meta

    t_start = time.perf_counter()
    path = usage = None
    base: dict = {"task": spec.task, "model": spec.model, "index": None, "status": "error"}
    try:
        task = registry.make_task(spec.task)
        task.set_params(**settings.task_params.get(spec.task, {}))
        base.update(task.describe())
        index, query_points = _make_index(spec, task)
        sweeps = index is not None and getattr(task, "sweeps_index", False)
        data_root = resolve_data_root(settings.data_root)
        cached = CachedModel(get_model(spec.model, settings.data_root), EmbeddingCache(settings.cache_dir),
                             progress=settings.progress)
        usage = _usage_meter(cached.model)
        path = result_path(settings.results_dir, spec.model, task.name, spec.index)

        t0 = time.perf_counter()
        dataset = task.load(data_root)
        t_load = time.perf_counter() - t0

        meta = cached.meta   # fixed when the model was built (CachedModel checks it stays so)
        index_spec = _index_block(index, spec.index, query_points)
        # the key holds the adapter's full spec (every build and query value), plus the query points of a sweep;
        # a job of one query point is keyed as before grids existed, so earlier results still resume
        keyed = index_spec and {k: v for k, v in index_spec.items()
                                 if k != "point" and (sweeps or k != "query_points")}
        definition = {**task.describe(), "dataset_sha256": dataset.sha256, "model": spec.model,
                      "model_meta": vector_meta(meta), "index": keyed}
        key = job_key(definition)
        base = {**task.describe(), "model": spec.model, "model_revision": meta.get("revision"),
                "index": index_spec, "dataset": dataset.as_dict(), "job_key": key, "declared": task.declare({}),
                "status": "error"}
        stored = None if settings.overwrite else done_result(path, key)
        if stored is not None:
            return JobOutcome(spec, "skipped", str(path), task.main_score, stored["main_score"],
                              time.perf_counter() - t_start)

        t0 = time.perf_counter()
        out = task.evaluate(cached, index, query_points=query_points) if sweeps else task.evaluate(cached, index)
        t_total = time.perf_counter() - t0
        scores = out.scores if hasattr(out, "scores") else dict(out)
        if task.main_score not in scores:
            raise HarnessError(f"task {task.name} did not produce its main score {task.main_score!r}")
        declared, sidecars = task.declare(scores), getattr(out, "sidecars", {})
        t0 = time.perf_counter()
        intervals = _intervals(declared, sidecars, task)
        t_intervals = time.perf_counter() - t0
        for name, arr in sidecars.items():
            _write_sidecar(path, name, arr)
        timings = {"load": t_load, "encode": cached.stats["encode_s"],
                   "evaluate": max(0.0, t_total - cached.stats["encode_s"]), "intervals": t_intervals}
        result = {**base, "declared": declared, "main_score": scores[task.main_score], "scores": scores,
                  "details": getattr(out, "details", {}),
                  "embedding_cache": {"encoded": cached.stats["encoded"], "cached": cached.stats["cached"]},
                  "versions": library_versions(), "timings_s": timings, "status": "ok", "error": None,
                  **_usage_block(usage)}
        if intervals is not None:
            result["intervals"] = intervals
        if index is not None and hasattr(index, "stats"):
            result["index_stats"] = index.stats()
            # what was built: a task may set build values (the metric) when it builds; the key stays the plan's
            result["index"] = _index_block(index, spec.index, query_points)
        write_result(path, result)
        main = scores[task.main_score]
        return JobOutcome(spec, "ok", str(path), task.main_score, None if main is None else float(main),
                          time.perf_counter() - t_start)
    except Exception as e:  # one job's failure never stops the others
        message = f"{type(e).__name__}: {e}"
        if path is not None:
            try:
                write_result(path, {**base, "main_score": None, "scores": {}, "versions": library_versions(),
                                    "error": message, "traceback": traceback.format_exc(limit=8),
                                    **_usage_block(usage)})
            except Exception as w:   # the outcome still reports the job's own error
                message += f" (its error result could not be written: {w})"
        return JobOutcome(spec, "error", str(path) if path else None, seconds=time.perf_counter() - t_start,
                          error=message, bad_input=isinstance(e, HarnessError))


def _intervals(declared: dict, sidecars: dict, task) -> dict | None:
    """`result["intervals"]`: a bootstrap interval per score of `declared.items`, from the `items` sidecar
    (harness/significance.py; B = its DEFAULT_B, seeded with the task's seed, both recorded per interval)."""
    if not declared.get("items"):
        return None
    from .significance import DEFAULT_B, checked_items, intervals
    items = checked_items(sidecars.get("items"), declared["items"], f"task {task.name}")
    return intervals(items, declared["items"], B=DEFAULT_B, seed=int(task.seed))


def _usage_meter(model):
    """For an adapter that counts its own work (`usage()`, `reset_usage()`: HTTP APIs' requests, retries,
    failures, tokens, latency): reset its counts now and return the function that reads this job's. The
    model of a run serves several jobs, hence the reset. None for other models."""
    if not callable(getattr(model, "usage", None)):
        return None
    if callable(getattr(model, "reset_usage", None)):
        model.reset_usage()
    return model.usage


def _usage_block(usage) -> dict:
    """The result's `model_usage`, when the model counts its work (a failed job's counts say why it failed)."""
    return {"model_usage": usage()} if usage is not None else {}


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
