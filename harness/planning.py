"""Planning a run: every (model, task, index point) job, with everything a user can get wrong checked first.

Index points come from grids (harness/index_grid.py, docs/index-grids.md): `JobSpec.index` holds a point
key, a plain string, so JobSpecs pickle to any executor (process pool, Dask) unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import index_grid, registry
from .errors import HarnessError
from .loaded_models import construct as _construct
from .loaded_models import get_model
from .results import result_path


@dataclass(frozen=True)
class JobSpec:
    model: str
    task: str
    index: str | None = None

    @property
    def label(self) -> str:
        return f"{self.model} / {self.task}" + (f" / {self.index}" if self.index else "")


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
