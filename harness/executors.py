"""Where jobs run: in this process, or a local process pool (`--workers N`).

An executor is anything with `map(fn, jobs, settings)` yielding outcomes as jobs finish. Used as a context
manager (`with executor:`), it keeps its workers between maps, so the encoding shards and the jobs of one run
(harness/runner.py) share the worker processes and the models they loaded; without it, each map starts and
stops its own. `parallel`: whether it has more than one worker (the runner then shards encoding).

Worker loss (a worker process killed, out of memory, or crashing in native code): the jobs it and its peers were
running are run again, each alone, so a job that kills its worker a second time is identified and becomes an
"error" outcome naming the cause, while the others complete; the run goes on (harness/dask_executor.py does the
same on Dask).
"""
from __future__ import annotations

import os

from .outcomes import failed_outcome


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
        """Outcomes as jobs finish, at most one job per worker in flight, so a dying worker takes down only the
        jobs then running. Those are run again one at a time; a job that breaks the pool alone is given up."""
        import concurrent.futures as cf
        from concurrent.futures.process import BrokenProcessPool
        jobs = list(jobs)
        own = self._pool is None
        pool = self._pool if not own else self._start()
        pending = list(range(len(jobs)))     # job numbers not yet run, in order
        suspects: list[int] = []             # running when a worker died: each is run again alone
        running: dict = {}                   # future -> job number
        alone = False

        def submit(i: int, queue: list) -> bool:
            try:
                running[pool.submit(fn, jobs[i], settings)] = i
                return True
            except BrokenProcessPool:   # the pool broke since the last wait: its jobs show it below
                queue.insert(0, i)
                return False

        try:
            while pending or suspects or running:
                broken = False
                if suspects and not running:
                    alone = True
                    broken = not submit(suspects.pop(0), suspects)
                elif not suspects:
                    alone = False
                    while pending and len(running) < self.workers and not broken:
                        broken = not submit(pending.pop(0), pending)
                done, _ = cf.wait(running, return_when=cf.ALL_COMPLETED if broken else cf.FIRST_COMPLETED)
                for fut in done:
                    i = running.pop(fut)
                    try:
                        outcome = fut.result()
                    except BrokenProcessPool as e:
                        broken = True
                        if not alone:
                            suspects.append(i)
                            continue
                        outcome = failed_outcome(jobs[i], f"{type(e).__name__}: the worker running this job died, "
                                                          "also when it ran alone; given up")
                    yield outcome
                if broken:
                    # every job still in flight dies with the pool; then a fresh pool serves the rest
                    for fut in cf.wait(running).done:
                        i = running.pop(fut)
                        if fut.exception() is None:
                            yield fut.result()
                        else:
                            suspects.append(i)
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = self._start()
                    if not own:
                        self._pool = pool
        finally:
            if own:
                pool.shutdown()


def make_executor(workers: int = 1, scheduler: str | None = None):
    if scheduler:
        from .dask_executor import DaskExecutor
        return DaskExecutor(scheduler, n_workers=workers if workers > 1 else None)
    return InProcessExecutor() if workers <= 1 else ProcessPoolExecutor(workers)
