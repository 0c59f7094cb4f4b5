"""Plans jobs (models x tasks x index points), runs them through an executor, writes one result each.

Planning: harness/planning.py; a job's identity (data, result path, job key): harness/job_setup.py; texts
encoded in shards by every worker before the jobs run: harness/sharding.py.

A job is identified by its `job_key` (task definition + dataset checksums + the model meta that
changes vectors + index parameters + seed). An existing result with the same key and status "ok"
is skipped (resume); `--overwrite` redoes it. A failing job is recorded with status "error" and
the run goes on; finished results are never lost because each is written atomically on its own.
"""
from __future__ import annotations

import os
import time
import traceback
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from . import registry
from .errors import HarnessError
from .loaded_models import get_model, release_model  # noqa: F401  (runner.get_model: the jobs' model)
from .job_setup import RunSettings, _index_block, is_done, prepare_job  # noqa: F401  (the runner's API)
from .planning import JobSpec, _check_distinct_paths, check_point, plan  # noqa: F401  (the runner's API)
from .results import result_path, write_result
from .text_table import aligned
from .versions import library_versions

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

def run_job(spec: JobSpec, settings: RunSettings) -> JobOutcome:
    from .cache import EmbeddingCache
    from .embedding import CachedModel

    t_start = time.perf_counter()
    path = usage = None
    base: dict = {"task": spec.task, "model": spec.model, "index": None, "status": "error"}
    try:
        task = registry.make_task(spec.task)
        base.update(task.describe())
        cached = CachedModel(get_model(spec.model, settings.data_root), EmbeddingCache(settings.cache_dir),
                             progress=settings.progress)
        usage = _usage_meter(cached.model)
        path = result_path(settings.results_dir, spec.model, task.name, spec.index)
        job = prepare_job(spec, settings, cached.meta)   # meta: fixed when the model was built
        task, index, query_points, sweeps, base = job.task, job.index, job.query_points, job.sweeps, job.base
        stored = is_done(job, settings)
        if stored is not None:
            return JobOutcome(spec, "skipped", str(path), task.main_score, stored["main_score"],
                              time.perf_counter() - t_start)

        t0 = time.perf_counter()
        with memory_budget(settings.max_memory_mb):
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
        timings = {"load": job.load_s, "encode": cached.stats["encode_s"],
                   "evaluate": max(0.0, t_total - cached.stats["encode_s"]), "intervals": t_intervals}
        result = {**base, "declared": declared, "main_score": scores[task.main_score], "scores": scores,
                  "details": getattr(out, "details", {}),
                  "embedding_cache": {"encoded": cached.stats["encoded"], "cached": cached.stats["cached"]},
                  "versions": library_versions(), "timings_s": timings, "status": "ok", "error": None,
                  **_usage_block(usage)}
        if intervals is not None:
            result["intervals"] = intervals
        sharded = settings.encoding_shards.get(f"{spec.model}\t{spec.task}")
        if sharded is not None:
            result["sharded_encoding"] = sharded
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


@contextmanager
def memory_budget(mb: float | None):
    """`--max-memory`: the budget exact search chunks the corpus by (HARNESS_MAX_MEMORY_MB, read by
    adapters/indexes/exact.py when a search gives no max_memory_mb), for the duration of one job."""
    if not mb:
        yield
        return
    before = os.environ.get("HARNESS_MAX_MEMORY_MB")
    os.environ["HARNESS_MAX_MEMORY_MB"] = str(mb)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HARNESS_MAX_MEMORY_MB", None)
        else:
            os.environ["HARNESS_MAX_MEMORY_MB"] = before


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
    """Run `jobs` on `executor`: first the shards of their texts (harness/sharding.py) when the executor has
    several workers or `settings.shard_size` asks for it, then the jobs, in one executor session (its workers,
    and the models they loaded, serve both)."""
    from contextlib import nullcontext

    from .progress import progress_bar
    sweep_stale_temp_files(settings.results_dir)
    outcomes = []
    session = executor if hasattr(executor, "__enter__") else nullcontext(executor)
    with session:
        shard_size = settings.shard_size
        if shard_size is None and getattr(executor, "parallel", False):
            from .sharding import DEFAULT_SHARD_SIZE
            shard_size = DEFAULT_SHARD_SIZE
        if shard_size:
            from .sharding import run_shards
            settings = replace(settings, encoding_shards=run_shards(jobs, settings, executor, shard_size=shard_size))
        if not getattr(executor, "shares_process", False):
            release_model()   # the workers load their own; planning's copy would only hold memory here
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
    lines = aligned(rows)
    errors = [f"  {o.spec.label}: {o.error}" for o in outcomes if o.status == "error"]
    if errors:
        lines += ["", "errors:"] + errors
    return "\n".join(lines)


def outcome_dict(o: JobOutcome) -> dict:
    d = asdict(o)
    d["spec"] = asdict(o.spec)
    return d
