"""A job before it runs: the run's settings, its index, and its identity (task data loaded, result path, job key).

Shared by the runner (harness/runner.py), which runs the job, and sharded encoding (harness/sharding.py), which
encodes the texts of the jobs not done yet before they run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from . import index_grid, registry
from .errors import HarnessError
from .planning import JobSpec
from .results import done_result, job_key, result_path


@dataclass
class RunSettings:
    results_dir: str
    data_root: str | None
    cache_dir: str | None
    overwrite: bool = False
    progress: bool = True
    task_params: dict = field(default_factory=dict)   # task name -> params overrides
    shard_size: int | None = None    # texts per encoding shard; None: shard when the executor has many workers, 0: never
    max_memory_mb: float | None = None   # exact search's memory budget (a resource, not part of the job key)
    encoding_shards: dict = field(default_factory=dict)   # "model\ttask" -> the result's sharded_encoding block


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


@dataclass
class PreparedJob:
    """A job with its task loaded and its identity known (result path, job key), before anything is encoded."""
    task: object
    index: object
    query_points: list | None
    sweeps: bool
    dataset: object
    path: Path
    key: str
    base: dict           # the result's header (task, model, index, dataset, job key, declarations)
    load_s: float


def prepare_job(spec: JobSpec, settings: RunSettings, meta: dict) -> PreparedJob:
    """Load the job's task data and compute its result path and job key (`meta`: the model's fixed meta)."""
    from .data import resolve_data_root
    from .model_meta import vector_meta
    task = registry.make_task(spec.task)
    task.set_params(**settings.task_params.get(spec.task, {}))
    index, query_points = _make_index(spec, task)
    sweeps = index is not None and getattr(task, "sweeps_index", False)
    path = result_path(settings.results_dir, spec.model, task.name, spec.index)
    t0 = time.perf_counter()
    dataset = task.load(resolve_data_root(settings.data_root))
    load_s = time.perf_counter() - t0
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
    return PreparedJob(task, index, query_points, sweeps, dataset, path, key, base, load_s)


def is_done(prepared: PreparedJob, settings: RunSettings) -> dict | None:
    """The stored ok result of this job key (resume), unless --overwrite."""
    return None if settings.overwrite else done_result(prepared.path, prepared.key)
