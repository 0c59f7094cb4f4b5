"""argparse front end; every command's work lives in harness/ modules.

`entry()` is the program (`run.py` and the `embedding-harness` console script both call it);
`main(argv)` runs one command and returns its exit code (tests call it directly).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from .errors import HarnessError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def cmd_list(args) -> int:
    from . import registry   # here, not at the top: plugins it imports see entry()'s environment
    tables = {"tasks": registry.TASKS, "models": registry.MODELS, "indexes": registry.INDEXES,
              "suites": registry.SUITES}
    prefixes = {"tasks": registry.TASK_PREFIXES, "models": registry.MODEL_PREFIXES,
                "indexes": registry.INDEX_PREFIXES}
    for kind in ([args.what] if args.what else list(tables)):
        print(f"{kind}:")
        for name, target in tables[kind].items():
            detail = ", ".join(target) if isinstance(target, list) else target.split(":")[0]
            print(f"  {name:<32} {detail}")
            if args.what == "indexes":   # only here: it imports every adapter module
                print(_index_parameters(name))
        for p, target in prefixes.get(kind, {}).items():
            print(f"  {registry.prefix_label(p):<32} {target.split(':')[0]}")
        for p, target in (registry.TASK_EXPANDERS.items() if kind == "tasks" else ()):
            print(f"  {registry.prefix_label(p):<32} {target.split(':')[0]} (expands to its tasks)")
    return EXIT_OK


def _index_parameters(name: str) -> str:
    """Two indented lines: the index's build and query parameters with their defaults."""
    from . import registry
    from .index_grid import format_value
    try:
        index = registry.make_index(name)
    except Exception as e:   # a broken plugin is shown, not fatal to the listing
        return f"      (cannot be constructed: {type(e).__name__}: {e})"
    lines = []
    for part in ("BUILD", "QUERY"):
        params = getattr(index, f"{part}_DEFAULTS", None) or {}
        shown = ", ".join(f"{k}={format_value(v)}" for k, v in params.items()) or "none"
        lines.append(f"      {part.lower()}: {shown}")
    return "\n".join(lines)


def parse_task_params(text: str | None) -> dict[str, dict]:
    """`--task-params` as {"TaskName": {"param": value}}; anything else is an error saying what and where."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise HarnessError(f"--task-params is not valid JSON: {e.msg} at column {e.colno} (character {e.pos}) of "
                           f"{text!r}; expected {{\"TaskName\": {{\"param\": value}}}}") from None
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise HarnessError(f"--task-params must map task names to parameter objects, "
                           f"{{\"TaskName\": {{\"param\": value}}}}; got {text!r}")
    return value


def cmd_run(args) -> int:
    from . import registry
    from .executors import make_executor
    from .runner import RunSettings, plan, run, summary_table

    if args.suite and args.tasks:
        raise HarnessError("give either --suite or --tasks, not both")
    from .name_lists import expand_tasks, split_names   # commas inside brackets: mteb-benchmark:MTEB(eng, v2)
    tasks = expand_tasks(split_names(args.tasks)) if args.tasks else registry.suite_tasks(args.suite or "default")
    models = split_names(args.models, "--models") if args.models else list(registry.DEFAULT_MODELS)
    registry.check_names("task", tasks)
    registry.check_names("model", models)
    indexes = index_grids(args.indexes, args.index_config)
    if indexes:
        registry.check_names("index", [g.name for g in indexes])
    task_params = parse_task_params(args.task_params)
    settings = RunSettings(results_dir=args.results, data_root=args.data_root, cache_dir=args.cache_dir,
                           overwrite=args.overwrite, progress=not args.no_progress, task_params=task_params,
                           shard_size=args.shard_size, max_memory_mb=args.max_memory)
    if args.shard_size is not None and args.shard_size < 0:
        raise HarnessError(f"--shard-size must be 0 (off) or a positive number of texts, got {args.shard_size}")
    if args.max_memory is not None and not args.max_memory > 0:
        raise HarnessError(f"--max-memory must be a positive number of megabytes, got {args.max_memory}")
    from pathlib import Path
    from unittest import mock
    # --cache-dir also for vectors a model reads through the default cache (compressed:<model>@...), in this
    # process and the workers it starts, for this run only
    cache_env = {"HARNESS_CACHE": str(Path(args.cache_dir).expanduser().resolve())} if args.cache_dir else {}
    with mock.patch.dict(os.environ, cache_env):
        jobs = plan(tasks, models, indexes, task_params=task_params, data_root=args.data_root)
        searching = len({j.index for j in jobs if j.index})
        print(f"{len(jobs)} job(s): {len(models)} model(s) x {len(tasks)} task(s)"
              + (f", {searching} index point(s) where a task searches" if searching else ""), file=sys.stderr)
        outcomes = run(jobs, settings, make_executor(args.workers, args.scheduler))
    print(summary_table(outcomes))
    if not (args.tasks or args.suite) and not args.no_report:  # the default suite ends with the report
        from .report import make_report, print_summary
        print_summary(make_report(args.results, args.report_out))
    if any(o.status == "error" and o.bad_input for o in outcomes):
        return EXIT_BAD_INPUT
    return EXIT_FAILED if any(o.status == "error" for o in outcomes) else EXIT_OK


def index_grids(indexes: str | None, config: str | None):
    """`--indexes` (short form) and `--index-config FILE`, in that order, as IndexGrids; None if neither."""
    from .index_grid import load_index_config, parse_indexes
    grids = (parse_indexes(indexes, "--indexes") if indexes is not None else []) + \
        (load_index_config(config) if config else [])
    return grids or None


def cmd_cache(args) -> int:
    from .cache import EmbeddingCache
    cache = EmbeddingCache(args.cache_dir)
    if args.action == "clear":
        freed = cache.clear(args.model)
        print(f"cleared {freed / 1e6:.1f} MB from {cache.root}")
        return EXIT_OK
    rows = cache.report()
    total = sum(r["bytes"] for r in rows)
    print(f"embedding cache: {cache.root}")
    for r in rows:
        print(f"  {r['model']:<48} {r['vectors']:>9} vectors {r['shards']:>5} shards {r['bytes'] / 1e6:>9.1f} MB")
    print(f"  total {total / 1e6:.1f} MB")
    return EXIT_OK


def _published_arg(args):
    """--published DIR / --no-published as load_entries takes it (True: this checkout's leaderboard)."""
    if args.published and args.no_published:
        raise HarnessError("give either --published DIR or --no-published, not both")
    return False if args.no_published else (args.published or True)


def cmd_report(args) -> int:
    from .report import make_report, print_summary, screenshot
    published = _published_arg(args)
    rep = make_report(args.results, args.out, title=args.title, published=published)
    print_summary(rep)
    if args.screenshot:
        print(f"screenshot:  {screenshot(rep.site_index, args.screenshot)}")
    return EXIT_OK


def cmd_gate(args) -> int:
    from .gate import run_gate
    result, table = run_gate(args.baseline, args.results, tolerances=args.tolerance, all_scores=args.all_scores,
                             junit=args.junit, fail_on_missing=args.fail_on_missing, verbose=args.verbose,
                             significance=args.significance)
    print(table)
    if args.junit:
        print(f"JUnit XML: {args.junit}", file=sys.stderr)
    return EXIT_FAILED if result.failed else EXIT_OK


def cmd_compare(args) -> int:
    from .compare import compare, format_comparison
    published = _published_arg(args)
    result = compare(args.model_a, args.model_b, args.results, published, alpha=args.alpha, seed=args.seed,
                     B=args.permutations)
    print(format_comparison(result))
    if args.json:
        from .io import atomic_write_bytes
        atomic_write_bytes(args.json, result.to_json().encode("utf-8"))
        print(f"JSON: {args.json}", file=sys.stderr)
    return EXIT_OK


def build_parser(prog: str = "run.py") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Embedding benchmark harness: models x tasks x indexes.")
    sub = p.add_subparsers(dest="command", required=True)

    ls = sub.add_parser("list", help="list tasks, models, indexes and suites")
    ls.add_argument("what", nargs="?", choices=["tasks", "models", "indexes", "suites"])
    ls.set_defaults(fn=cmd_list)

    from .index_grid import GRAMMAR_HELP   # stdlib only: --help stays fast
    r = sub.add_parser("run", help="run jobs and write one result file per job", epilog=GRAMMAR_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--suite", help="a named task list (see `list suites`); default: the default suite")
    r.add_argument("--tasks", help="comma-separated task names, e.g. STSBenchmark,SICK-R or beir:/folder")
    r.add_argument("--models", help="comma-separated model names (default: all-MiniLM-L6-v2)")
    r.add_argument("--indexes", metavar="GRID",
                   help="indexes and their grids for tasks that search, e.g. \"exact,hnswlib(M=16)[ef=10,40]\" "
                        "(grammar below; default: each task's own, exact for retrieval)")
    r.add_argument("--index-config", metavar="FILE",
                   help="index grids from a .json/.yaml file: [{name, build: {p: [v, ...]}, query: {...}}]")
    r.add_argument("--data-root", help="data folder (default: $HARNESS_DATA, then ../shared/data, then the hub)")
    r.add_argument("--results", default="results", help="results folder (default: results)")
    r.add_argument("--cache-dir", help="embedding cache folder (default: $HARNESS_CACHE or .cache/embeddings)")
    r.add_argument("--overwrite", action="store_true", help="redo jobs that already have a result")
    r.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    r.add_argument("--scheduler", help="Dask scheduler address tcp://host:port, or 'local' for a LocalCluster")
    r.add_argument("--shard-size", type=int, metavar="N",
                   help="texts per encoding shard: a job's texts are encoded in shards by every worker before it runs "
                        "(default: 1024 with --workers > 1 or --scheduler, else off; 0: off)")
    r.add_argument("--max-memory", type=float, metavar="MB",
                   help="memory budget of exact search: the corpus is searched in chunks that fit in MB megabytes "
                        "(scores unchanged; not part of the job key)")
    r.add_argument("--task-params", help='JSON: {"TaskName": {"param": value}} overrides')
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--no-report", action="store_true", help="default suite: skip rendering the report at the end")
    r.add_argument("--report-out", default="reports", help="where the default suite renders its report")
    r.set_defaults(fn=cmd_run)

    rp = sub.add_parser("report", help="leaderboard tables (Markdown, CSV), PNG plots and a static site")
    rp.add_argument("--results", default="results", help="your results folder (default: results)")
    rp.add_argument("--published", metavar="DIR",
                    help="published results shown beside yours, rows labelled '(published)' "
                         "(default: leaderboard/results of this checkout, when it exists)")
    rp.add_argument("--no-published", action="store_true", help="leave the published results out")
    rp.add_argument("--out", default="reports", help="output folder (default: reports; the site is <out>/site)")
    rp.add_argument("--title", default="Embedding benchmark leaderboard", help="site and Markdown title")
    rp.add_argument("--screenshot", metavar="PNG", help="also save a headless-Chromium screenshot of the index page")
    rp.set_defaults(fn=cmd_report)

    g = sub.add_parser("gate", help="compare results against a baseline; exit 1 on a regression (for CI)",
                       description="Matches jobs by (model, task, index) and compares main scores (or every score) "
                                   "with the direction and absolute tolerance each task declares per score; see docs/gate.md.")
    g.add_argument("--baseline", required=True, help="baseline results folder, one result file, or a JSON list")
    g.add_argument("--results", default="results", help="current results folder (default: results)")
    g.add_argument("--tolerance", action="append", metavar="X | [TYPE:]METRIC=X",
                   help="absolute tolerance for every gated score, or for matching scores (glob); repeatable")
    g.add_argument("--all-scores", action="store_true", help="compare every numeric score, not only the main one")
    g.add_argument("--junit", metavar="FILE", help="also write JUnit XML (one test case per score checked)")
    g.add_argument("--fail-on-missing", action="store_true", help="a baseline job with no current result fails")
    g.add_argument("--significance", nargs="?", const=0.05, type=float, metavar="ALPHA",
                   help="fail a score only when a paired test on the per-item data says the drop is real "
                        "(p < ALPHA, default 0.05); scores without per-item data keep the tolerance rule")
    g.add_argument("--verbose", action="store_true", help="list every comparison, not only the changes")
    g.set_defaults(fn=cmd_gate)

    cp = sub.add_parser("compare", help="is model A's difference from model B real? paired tests per task",
                        description="Paired permutation test of A - B on the same items for every ranked task both "
                                    "models have, with its 95% interval, Holm-corrected across the tasks, and "
                                    "P(A ahead of B) over the tasks. Reads result files only (yours and the "
                                    "published ones, as the report does).")
    cp.add_argument("model_a", metavar="A", help="a model name as in the results (e.g. all-MiniLM-L6-v2)")
    cp.add_argument("model_b", metavar="B", help="the model to compare it with")
    cp.add_argument("--results", default="results", help="your results folder (default: results)")
    cp.add_argument("--published", metavar="DIR", help="published results (default: leaderboard/results of this "
                                                        "checkout; your own results of a model come first)")
    cp.add_argument("--no-published", action="store_true", help="leave the published results out")
    cp.add_argument("--alpha", type=float, default=0.05, help="significance level after Holm (default 0.05)")
    cp.add_argument("--permutations", type=int, default=2000, metavar="B",
                    help="permutations and bootstrap draws per paired test (default 2000; the smallest p is 2/(B+1))")
    cp.add_argument("--seed", type=int, default=16, help="seed of the permutations and draws (default 16)")
    cp.add_argument("--json", metavar="FILE", help="also write the comparison as JSON")
    cp.set_defaults(fn=cmd_compare)

    c = sub.add_parser("cache", help="embedding cache: size report or clear")
    c.add_argument("action", choices=["info", "clear"])
    c.add_argument("--cache-dir")
    c.add_argument("--model", help="with clear: only model folders whose name contains this")
    c.set_defaults(fn=cmd_cache)
    return p


def main(argv=None, prog: str = "run.py") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        return args.fn(args)
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted; finished results are kept, re-run to resume", file=sys.stderr)
        return 130


def offline_defaults() -> None:
    """Offline by default: hub look-ups otherwise retry for ~23 s before failing. Users with network
    access opt in with HARNESS_ONLINE=1. Set before any library that reads these is imported."""
    if os.environ.get("HARNESS_ONLINE") != "1":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("MTEB_CACHE", os.path.join(os.getcwd(), ".cache", "mteb"))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def entry(argv=None) -> None:
    """The program: `python run.py ...` and the `embedding-harness` console script."""
    offline_defaults()
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "run.py"
    try:
        sys.exit(main(argv, prog=prog))
    except BrokenPipeError:   # `... list | head`: the reader left; stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
