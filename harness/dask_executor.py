"""Run jobs on a Dask distributed cluster: `run.py run --scheduler tcp://host:port` (or `local`).

Same interface as the executors in `harness/executors.py`: `map(fn, jobs, settings)` yields each
job's outcome as it finishes. Every job is one Dask task, `fn(job, settings)`, so a worker loads a
model once and serves every job of that model it gets.

- `--scheduler local` starts a `distributed.LocalCluster` (worker processes, one thread each, as
  many as `--workers` or the machine's cores) and closes it afterwards.
- `--scheduler tcp://host:port` connects to a running scheduler (docs/dask.md shows how to start one
  and its workers). Workers must import this checkout (start them from its root or with it on
  PYTHONPATH) and see the results folder, the embedding cache and the data root at the same paths
  as this machine: a shared file system. Relative paths are made absolute here, and every worker is
  asked whether it sees them before any job is sent.
- Worker loss: a job whose worker dies (killed, out of memory) is submitted once more; a second loss
  makes it an "error" outcome naming the cause, and the run goes on. Only as many jobs are in
  flight as the cluster has worker threads, so no job waits queued on a worker and a dying worker
  takes down only the job it was running. A local cluster sets the scheduler's
  `allowed-failures` to 0 so this one retry is the only one; a remote scheduler applies its own
  setting (default 3) before ours (docs/dask.md). Jobs also carry `retries=1`, Dask's retry for an
  exception escaping `fn` (the runner catches a job's own errors and records them).

Results are written by the workers with the same atomic writes as a local run, so the files are
identical (scores, job keys) to those of `run.py run` without `--scheduler`.
"""
from __future__ import annotations

import dataclasses
import os
import pickle
import uuid
from collections import deque
from pathlib import Path

from .errors import HarnessError
from .outcomes import failed_outcome

WORKER_LOSS_RETRIES = 1   # a job is submitted again this many times after its worker died


def _absolute_settings(settings):
    """Paths that mean the same on every worker: absolute, resolved here, progress bars off."""
    if not dataclasses.is_dataclass(settings):
        return settings
    from .cache import default_cache_dir
    from .data import resolve_data_root
    changes = {}
    if hasattr(settings, "results_dir"):
        changes["results_dir"] = str(Path(settings.results_dir).expanduser().resolve())
    if hasattr(settings, "cache_dir"):
        changes["cache_dir"] = str(Path(settings.cache_dir or default_cache_dir()).expanduser().resolve())
    if hasattr(settings, "data_root"):
        root = resolve_data_root(settings.data_root)   # validates a given root here, with a clear error
        changes["data_root"] = str(root) if root is not None else None
    if hasattr(settings, "progress"):
        changes["progress"] = False   # bars from many workers are noise; the client shows the job bar
    return dataclasses.replace(settings, **changes)


def _worker_check():
    """A closure (pickled by value, so a worker without this checkout can still run it) returning
    what a worker lacks: paths it cannot see, and whether it can import the harness."""
    def check(paths: list[str]) -> list[str]:
        import importlib
        import os
        problems = [f"cannot see {p}" for p in paths if not os.path.isdir(p)]
        try:
            importlib.import_module("harness.runner")
        except ImportError as e:
            problems.append(f"cannot import the harness ({e}; start the worker from the checkout root with "
                            "PYTHONPATH set to it)")
        return problems
    return check


def _payload_runner():
    """A function pickled by value (a closure), so the scheduler can unpickle the task without
    importing this checkout; only the workers import it, when they unpickle the payload."""
    def run_payload(blob: bytes) -> bytes:
        import pickle
        fn, job, settings = pickle.loads(blob)
        return pickle.dumps(fn(job, settings))
    return run_payload


class DaskExecutor:
    parallel = True   # the runner shards encoding over the workers

    def __init__(self, scheduler: str, *, n_workers: int | None = None, threads_per_worker: int = 1,
                 processes: bool = True, retries: int = 1, worker_loss_retries: int = WORKER_LOSS_RETRIES,
                 connect_timeout: float = 30.0):
        if not scheduler:
            raise HarnessError("--scheduler needs an address (tcp://host:port) or 'local'")
        self.scheduler = scheduler
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.processes = processes
        self.retries = retries
        self.worker_loss_retries = worker_loss_retries
        self.connect_timeout = connect_timeout
        self._session = None   # (client, cluster or None) while used as a context manager

    def __enter__(self):
        if self._session is None:
            self._session = self._connect()
        return self

    def __exit__(self, *exc) -> None:
        if self._session is not None:
            client, cluster = self._session
            self._session = None
            client.close()
            if cluster is not None:
                cluster.close()

    def __repr__(self) -> str:
        return f"DaskExecutor({self.scheduler!r})"

    def _connect(self):
        import dask
        from distributed import Client, LocalCluster
        if self.scheduler == "local":
            n = self.n_workers or max(1, os.cpu_count() or 1)
            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):   # we retry, once
                cluster = LocalCluster(n_workers=n, threads_per_worker=self.threads_per_worker,
                                       processes=self.processes, dashboard_address=None,
                                       env={"HARNESS_PROGRESS": "0"})
            return Client(cluster), cluster
        try:
            return Client(self.scheduler, timeout=f"{self.connect_timeout}s"), None
        except (OSError, TimeoutError, ValueError) as e:
            raise HarnessError(f"cannot reach the Dask scheduler at {self.scheduler} ({type(e).__name__}: {e}); "
                               "start one with `dask scheduler` (docs/dask.md)") from None

    def _check_workers(self, client, settings) -> None:
        client.wait_for_workers(1, timeout=120)
        paths = [p for p in (getattr(settings, "results_dir", None), getattr(settings, "cache_dir", None),
                             getattr(settings, "data_root", None)) if p]
        bad = {w: problems for w, problems in client.run(_worker_check(), paths).items() if problems}
        if bad:
            detail = "; ".join(f"{w} {', '.join(p)}" for w, p in sorted(bad.items()))
            raise HarnessError(f"Dask workers must import this checkout and share the results folder, cache and "
                               f"data root at the same paths: {detail}")

    def map(self, fn, jobs, settings):
        from distributed import wait
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker
        jobs = list(jobs)
        if not jobs:
            return
        settings = _absolute_settings(settings)
        for attr in ("results_dir", "cache_dir"):
            if getattr(settings, attr, None):
                Path(getattr(settings, attr)).mkdir(parents=True, exist_ok=True)
        own = self._session is None
        client, cluster = self._connect() if own else self._session
        try:
            self._check_workers(client, settings)
            run_id = uuid.uuid4().hex[:10]            # unique task keys on a long-lived scheduler
            pending = deque(enumerate(jobs))
            attempts = [0] * len(jobs)
            running: dict = {}                        # future -> job number
            runner = _payload_runner()

            def fill() -> None:
                # never more jobs in flight than live worker threads: none waits queued on a worker
                capacity = max(1, sum(client.nthreads().values()))
                while pending and len(running) < capacity:
                    i, job = pending.popleft()
                    attempts[i] += 1
                    # settings travel inside each task (scattered data would die with its worker), as
                    # opaque bytes the scheduler never unpickles
                    blob = pickle.dumps((fn, job, settings))
                    fut = client.submit(runner, blob, key=f"harness-job-{run_id}-{i}-{attempts[i]}",
                                        retries=self.retries, pure=False)
                    running[fut] = i

            while running or pending:
                fill()   # also picks up workers that joined (or restarted) since the last pass
                done = [f for f in running if f.done()]
                if not done:
                    try:
                        wait(list(running), timeout=0.5, return_when="FIRST_COMPLETED")
                    except TimeoutError:
                        pass
                    continue
                for fut in done:
                    i = running.pop(fut)
                    outcome = None
                    try:
                        outcome = pickle.loads(fut.result())
                    except (KilledWorker, FutureCancelledError) as e:
                        if attempts[i] <= self.worker_loss_retries:
                            pending.appendleft((i, jobs[i]))
                        else:
                            outcome = failed_outcome(jobs[i], f"{type(e).__name__}: the worker running this job "
                                                               f"died {attempts[i]} times; given up ({e})")
                    except Exception as e:   # an exception escaping fn after Dask's own retries
                        outcome = failed_outcome(jobs[i], f"{type(e).__name__}: {e} (on Dask)")
                    fut.release()
                    if outcome is not None:
                        yield outcome
        finally:
            if own:
                client.close()
                if cluster is not None:
                    cluster.close()
