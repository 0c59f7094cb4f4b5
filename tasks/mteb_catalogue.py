"""Where `mteb:` task names and `mteb-benchmark:` names resolve: mteb's own catalogue, plus mteb tasks
defined locally and registered here.

- `mteb:<TaskName>`: a task registered with `register_mteb_task` (your own AbsTask subclass, e.g. on
  private data; a `$HARNESS_PLUGINS` module can register it), else `mteb.get_task(TaskName)`.
- `mteb:<TaskName>@<Benchmark>`: the task as the benchmark selects it (its splits and subsets, e.g. only
  the English subset of STS22.v2 in `MTEB(eng, v2)`).
- `mteb-benchmark:<Benchmark>` expands to one `mteb:` name per task of `mteb.get_benchmark(Benchmark)`;
  a task the benchmark runs whole keeps its plain name, so benchmarks that share it share its result.
"""
from __future__ import annotations

from typing import Any, Callable

from harness.errors import HarnessError

LOCAL_TASKS: dict[str, Callable[[], Any]] = {}   # TaskName -> factory of a locally defined mteb task


def register_mteb_task(factory: Callable[[], Any], name: str | None = None):
    """Make `mteb:<name>` run this mteb task (an AbsTask subclass or a function returning an instance);
    `name` defaults to its `metadata.name`. Returns `factory`, so it also works as a class decorator.
    Its `metadata.dataset["revision"]` names its data in the job key, as on the hub: change it when the
    data changes, or a re-run keeps the earlier result. Register from a `$HARNESS_PLUGINS` module so that
    worker processes (`--workers`, Dask) know the name too."""
    if name is None:
        metadata = getattr(factory, "metadata", None)
        name = getattr(metadata, "name", None)
        if not name:
            raise HarnessError(f"register_mteb_task: {factory!r} has no metadata.name; pass name=...")
    LOCAL_TASKS[name] = factory
    return factory


def task_factory(spec: str) -> Callable[[], Any]:
    """A function building a fresh task object for `TaskName` or `TaskName@Benchmark` (checked now)."""
    task_name, at, benchmark = spec.partition("@")
    if not task_name:
        raise HarnessError(f"mteb:{spec}: no task name; write mteb:<TaskName>, e.g. mteb:STS12")
    if not at and task_name in LOCAL_TASKS:
        return LOCAL_TASKS[task_name]
    import mteb
    if not at:
        _get_task(task_name)
        return lambda: _get_task(task_name)
    selected = [t for t in get_benchmark(benchmark).tasks if t.metadata.name == task_name]
    if not selected:
        raise HarnessError(f"mteb:{spec}: benchmark {benchmark!r} has no task {task_name!r}; its tasks: "
                           f"mteb-benchmark:{benchmark} lists them (run.py run --tasks 'mteb-benchmark:{benchmark}')")
    splits, subsets = list(selected[0].eval_splits), list(selected[0].hf_subsets)
    return lambda: mteb.get_task(task_name, eval_splits=splits, hf_subsets=subsets)


def _get_task(name: str):
    import mteb
    try:
        return mteb.get_task(name)
    except KeyError as e:
        hint = str(e.args[0] if e.args else e).replace("KeyError: ", "")
        raise HarnessError(f"unknown MTEB task {name!r} (mteb {mteb.__version__}): {hint} (mteb.get_tasks() lists "
                           "them; locally defined tasks need register_mteb_task)") from None


def get_benchmark(name: str):
    import mteb
    try:
        return mteb.get_benchmark(name)
    except (KeyError, ValueError):
        import difflib
        names = [b.name for b in mteb.get_benchmarks()]
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise HarnessError(f"unknown MTEB benchmark {name!r}{hint}; mteb {mteb.__version__} has "
                           f"{len(names)}, e.g. {', '.join(names[:6])} (mteb.get_benchmarks() lists them)") from None


def benchmark_task_names(name: str) -> list[str]:
    """`mteb:` task names of a benchmark, in its order; `@<benchmark>` where it selects splits or subsets."""
    import mteb
    out = []
    for task in get_benchmark(name).tasks:
        task_name = task.metadata.name
        whole = mteb.get_task(task_name)
        same = list(task.eval_splits) == list(whole.eval_splits) and list(task.hf_subsets) == list(whole.hf_subsets)
        out.append(f"mteb:{task_name}" if same else f"mteb:{task_name}@{name}")
    return out
