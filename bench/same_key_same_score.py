"""Same job key, same score, on the whole default suite (harness/registry.py SUITES["default"]).

Runs the suite twice with the default model, each on its own empty cache and results folder:
1. in the suite's order;
2. in reverse order (so each task meets a cache filled by the tasks that share its texts:
   Spectrum-Banking77 encodes the Banking77 train texts alone before classification encodes
   train and test together, and so on).
Prints, per task, whether the job keys agree, the largest difference over all its scores and
which score it is, and the main score of both runs; a last line gives the largest difference
overall. The tests/test_same_key_same_score.py test does the same on small text sets.
Cold twice: about 2 x the README's command 1 on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import registry  # noqa: E402
from harness.executors import make_executor  # noqa: E402
from harness.report_fields import is_number  # noqa: E402
from harness.results import flatten_scores  # noqa: E402
from harness.runner import RunSettings, plan, run  # noqa: E402


def run_suite(tasks: list[str], model: str, work: Path, data_root: str | None) -> tuple[dict, float]:
    settings = RunSettings(results_dir=str(work / "results"), data_root=data_root, cache_dir=str(work / "cache"),
                           progress=False)
    t0 = time.perf_counter()
    outcomes = run(plan(tasks, [model], data_root=data_root), settings, make_executor(1))
    results = {}
    for o in outcomes:
        if o.status != "ok":
            raise SystemExit(f"{o.spec.label}: {o.status}: {o.error}")
        results[o.spec.task] = json.loads(Path(o.path).read_text())
    return results, time.perf_counter() - t0


def largest_difference(a: dict, b: dict) -> tuple[float, str]:
    """(largest |a - b| over the numeric scores both results have, its name); NaN on both sides is equal."""
    fa, fb = flatten_scores(a["scores"]), flatten_scores(b["scores"])
    worst, name = 0.0, "-"
    for k in sorted(set(fa) | set(fb)):
        va, vb = fa.get(k), fb.get(k)
        if isinstance(va, float) and isinstance(vb, float) and math.isnan(va) and math.isnan(vb):
            continue
        d = abs(va - vb) if is_number(va) and is_number(vb) else math.inf
        if d > worst:
            worst, name = d, k
    return worst, name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", default="default")
    ap.add_argument("--model", default=registry.DEFAULT_MODELS[0])
    ap.add_argument("--data-root")
    ap.add_argument("--keep", metavar="DIR", help="use and keep this folder instead of a temporary one")
    args = ap.parse_args()
    tasks = registry.suite_tasks(args.suite)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        first, t1 = run_suite(tasks, args.model, work / "forward", args.data_root)
        second, t2 = run_suite(tasks[::-1], args.model, work / "reverse", args.data_root)
    print(f"suite {args.suite!r}, model {args.model}: forward {t1:.0f} s, reverse {t2:.0f} s (cold caches)")
    print(f"{'task':34s} {'same key':8s} {'largest |diff|':>14s}  {'in score':32s} main score forward / reverse")
    overall = 0.0
    for task in tasks:
        a, b = first[task], second[task]
        d, name = largest_difference(a, b)
        overall = max(overall, d)
        print(f"{task:34s} {str(a['job_key'] == b['job_key']):8s} {d:14.3g}  {name:32s} "
              f"{a['main_score']!r} / {b['main_score']!r}")
    print(f"largest difference over every score of every task: {overall:.3g}")


if __name__ == "__main__":
    main()
