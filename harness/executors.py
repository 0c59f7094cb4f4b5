"""Where jobs run: in this process, or a local process pool (`--workers N`).

An executor is anything with `map(fn, jobs, settings)` yielding outcomes as jobs finish. Used as a context
manager (`with executor:`), it keeps its workers between maps, so the encoding shards and the jobs of one run
(harness/runner.py) share the worker processes and the models they loaded; without it, each map starts and
stops its own. `parallel`: whether it has more than one worker (the runner then shards encoding).
"""
from __future__ import annotations

import os


class InProcessExecutor:
    """Default for one worker: jobs run one after another here, sharing the loaded model."""

    shares_process = True   # the model loaded while planning serves the jobs
    parallel = False

    def map(self, fn, jobs, settings):
        for job in jobs:
            yield fn(job, settings)


def _init_worker(threads: int) -> None:
    # before torch/numpy start their thread pools: N workers share the machine's cores
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ["HARNESS_PROGRESS"] = "0"  # many bars from many processes are noise; the job bar stays


class ProcessPoolExecutor:
    parallel = True

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = None

    def _start(self):
        import concurrent.futures as cf
        import multiprocessing as mp
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        return cf.ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                      initializer=_init_worker, initargs=(threads,))

    def __enter__(self):
        if self._pool is None:
            self._pool = self._start()
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def map(self, fn, jobs, settings):
        import concurrent.futures as cf
        own = self._pool is None
        pool = self._start() if own else self._pool
        try:
            futures = [pool.submit(fn, job, settings) for job in jobs]
            for fut in cf.as_completed(futures):
                yield fut.result()
        finally:
            if own:
                pool.shutdown()


def make_executor(workers: int = 1, scheduler: str | None = None):
    if scheduler:
        from .dask_executor import DaskExecutor
        return DaskExecutor(scheduler, n_workers=workers if workers > 1 else None)
    return InProcessExecutor() if workers <= 1 else ProcessPoolExecutor(workers)
