"""Speed of the significance layer on real results: every interval and every paired test of the models in a
results folder, on its ranked tasks with per-item data, plus the rank intervals and win probabilities across
them. Target (issue 16): under 5 s for 3 models on the default suite.

    .venv/bin/python run.py run --suite default --models all-MiniLM-L6-v2,static-tokenlearn-64,glove-cbn-items \\
        --results /tmp/sig_results
    .venv/bin/python bench/significance.py --results /tmp/sig_results [--models a,b,c] [--repeat 3]

Timed, each the best of --repeat runs:
- intervals: `harness.significance.bootstrap_ci` of every result's main score (B and seed as the runner
  writes them), computed from the items (the target counts them; the report reads the ones the runner
  recorded instead); apart, `harness.significance.intervals` of every declared score, as the runner writes them;
- paired tests: `significance_ranks.pair_tests` for every task (every pair of models, Holm), as the report;
- ranks: `significance_ranks.rank_intervals` over the tasks (draws of tasks and items, win probabilities);
- the report's whole significance layer (`report_significance.analyse`: it reads the recorded intervals).
Prints one line per task (items, statistic, seconds) and the totals; exit 1 when intervals + tests + ranks
take 5 s or more.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import significance as sig  # noqa: E402
from harness.report_entries import load_entries  # noqa: E402
from harness.report_tables import build_tables  # noqa: E402
from harness.significance_ranks import (B_TEST, DRAWS, SEED, TaskColumn, pair_tests, rank_intervals,  # noqa: E402
                                        score_items)

TARGET_S = 5.0


CPU: list[float] = []   # process CPU seconds of the best run of each timing (the machine may be shared)


def best_of(repeat: int, fn):
    """(best wall seconds, result); the CPU seconds of that run go to CPU."""
    runs, out = [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        runs.append((time.perf_counter() - t0, time.process_time() - c0))
    wall, cpu = min(runs)
    CPU.append(cpu)
    return wall, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="/tmp/sig_results")
    ap.add_argument("--models", help="comma-separated (default: every model in the folder)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    loaded = load_entries(args.results, published=False)
    wanted = set(args.models.split(",")) if args.models else None
    entries = [e for e in loaded.entries
               if e.ranked and e.in_overall and e.ok and (wanted is None or e.model in wanted)]
    models = sorted({e.model for e in entries})
    by_task: dict[str, list] = {}
    skipped = []
    for e in entries:
        got, why = score_items(e.path, e.result, model=e.model)
        if got is None:
            skipped.append(why)
            continue
        by_task.setdefault(e.column, []).append((e, got))
    print(f"{len(models)} model(s): {', '.join(models)}; {len(by_task)} ranked task(s) with per-item data; "
          f"B = {sig.DEFAULT_B} (intervals), {B_TEST} (paired tests), {DRAWS} draws (ranks); best of {args.repeat}")
    for why in skipped:
        print(f"  skipped: {why}")
    print(f"\n{'task':<26} {'models':>6} {'items':>6} {'statistic':<10} {'main CI s':>9} {'all CIs s':>9} "
          f"{'pairs':>5} {'tests s':>8}")
    t_int = t_all = t_pairs = 0.0
    for task, group in sorted(by_task.items()):
        def main_intervals(group=group):
            return [sig.bootstrap_ci(s.items, s.decl, B=sig.DEFAULT_B, seed=int(e.result.get("seed") or 42))
                    for e, s in group]

        def all_intervals(group=group):
            return [sig.intervals(sig.load_items(e.path, e.result), e.result["declared"]["items"],
                                  B=sig.DEFAULT_B, seed=int(e.result.get("seed") or 42)) for e, _ in group]
        ti, _ = best_of(args.repeat, main_intervals)
        ta, _ = best_of(args.repeat, all_intervals)
        CPU.pop()   # every declared score: reported, not part of the target
        tp, (tests, notes) = best_of(args.repeat, lambda group=group, task=task: pair_tests(
            task, [s for _, s in group], B=B_TEST, seed=SEED))
        t_int, t_all, t_pairs = t_int + ti, t_all + ta, t_pairs + tp
        print(f"{task:<26} {len(group):>6} {group[0][1].n:>6} {group[0][1].decl['statistic']:<10} {ti:>9.3f} "
              f"{ta:>9.3f} {len(tests):>5} {tp:>8.3f}")
    def columns():   # fresh every run: a column keeps its item draws once made
        return [TaskColumn(task, {e.model: e.main_score for e, _ in group}, {e.model: s for e, s in group},
                           group[0][0].lower_is_better) for task, group in sorted(by_task.items())]
    t_rank, ranks = best_of(args.repeat, lambda: rank_intervals(columns(), models, draws=DRAWS, seed=SEED))
    total = t_int + t_pairs + t_rank
    print(f"\nintervals of the main scores:              {t_int:.3f} s  (computed here from the items, "
          f"B = {sig.DEFAULT_B}, not read from the result files)")
    print(f"paired tests (every pair, every task):     {t_pairs:.3f} s  (permutation p-values, bootstrap "
          f"intervals, B = {B_TEST})")
    print(f"rank intervals + win probabilities:         {t_rank:.3f} s")
    print(f"total:                                      {total:.3f} s  (target < {TARGET_S:g} s: "
          f"{'PASS' if total < TARGET_S else 'FAIL'}); CPU {sum(CPU):.3f} s; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)")
    for i, m in enumerate(ranks.models):
        print(f"  {m:<48} rank {int(ranks.rank[i])}  interval [{int(ranks.low[i])}, {int(ranks.high[i])}]")

    from harness.report_significance import analyse   # the report's layer, as `run.py report` runs it

    def layer():
        fresh = load_entries(args.results, published=False)
        keep = [e for e in fresh.entries if wanted is None or e.model in wanted]
        return analyse(keep, build_tables(keep, fresh.types))
    t_layer, _ = best_of(args.repeat, layer)
    print(f"report significance layer (recorded intervals, tests, ranks): {t_layer:.3f} s")
    print(f"apart: intervals of every declared score (as the runner writes them): {t_all:.3f} s")
    return 0 if total < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
