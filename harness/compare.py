"""`run.py compare A B`: is model A's difference from model B real, task by task?

Reads only result files and their `items` sidecars, the same ones the report reads (your results and
the published leaderboard's, `harness.report_entries`). For every ranked task both models have a
score on (exact search), a paired test on the same items (`significance_ranks.pair_tests`: the
difference A - B of the task's main score, its 95% paired bootstrap interval, the permutation p-value),
the p-values Holm-corrected across the tasks compared, so "separable" holds for the whole set of tasks
at once. Over the tasks together, P(A ahead of B) from resampling the tasks and, within each, the items
(`significance_ranks.rank_intervals`, ranking by Borda as the leaderboard does). A task one model lacks,
or whose items cannot be paired, is listed with the reason, never silently dropped.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

from .errors import HarnessError
from .report_entries import PUBLISHED_SUFFIX, Entry, load_entries
from .results import json_safe
from .significance import holm
from .significance_ranks import ALPHA, B_TEST, DRAWS, SEED, TaskColumn, pair_tests, rank_intervals, score_items
from .text_table import aligned


@dataclass
class TaskComparison:
    task: str                # the leaderboard column: the task (exact search)
    score: str               # its main score's name
    a: float
    b: float
    difference: float        # a - b
    low: float               # 95% paired bootstrap interval of the difference
    high: float
    p_value: float
    p_holm: float            # Holm-adjusted across the tasks compared
    n_items: int
    lower_is_better: bool

    def verdict(self, a: str, b: str, alpha: float) -> str:
        if not (self.p_holm < alpha):
            return "not separable"
        a_ahead = (self.difference < 0) if self.lower_is_better else (self.difference > 0)
        return f"{a if a_ahead else b} better"


@dataclass
class Comparison:
    a: str
    b: str
    tasks: list[TaskComparison] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)    # "task: why"
    p_a_ahead: float | None = None                      # P(A ahead of B) over task-and-item draws
    alpha: float = ALPHA
    B: int = B_TEST
    draws: int = DRAWS
    seed: int = SEED

    def to_json(self) -> str:
        return json.dumps(json_safe(asdict(self)), indent=2)   # NaN (undefined statistic) as null


def _pick(name: str, entries: list[Entry]) -> str:
    """The row label of `name`: the user's own results, else the published ones."""
    labels = {e.model for e in entries}
    for label in (name, name + PUBLISHED_SUFFIX):
        if label in labels:
            return label
    known = sorted({e.model for e in entries})
    raise HarnessError(f"model {name!r} has no results here; models with results: {', '.join(known) or 'none'}")


def compare(model_a: str, model_b: str, results_dir="results", published=True, *, alpha: float = ALPHA,
            B: int = B_TEST, draws: int = DRAWS, seed: int = SEED) -> Comparison:
    """Paired comparison of two models over every ranked task both have (see the module docstring)."""
    if not 0 < alpha < 1:
        raise HarnessError(f"--alpha must be between 0 and 1, not {alpha}")
    if B < 100:
        raise HarnessError(f"--permutations must be at least 100 (the smallest p-value is 2/(B+1)), not {B}")
    loaded = load_entries(results_dir, published)
    ranked = [e for e in loaded.entries if e.in_overall and e.ok]   # ranked tasks, exact search
    a, b = _pick(model_a, ranked), _pick(model_b, ranked)
    if a == b:
        raise HarnessError(f"compare needs two different models, not {a!r} twice")
    by_task: dict[str, dict[str, Entry]] = {}
    for e in ranked:
        if e.model in (a, b):
            by_task.setdefault(e.column, {})[e.model] = e
    out = Comparison(a, b, alpha=alpha, B=B, draws=draws, seed=seed)
    rows, columns = [], []
    for task in sorted(by_task):
        pair = by_task[task]
        if len(pair) < 2:
            out.skipped.append(f"{task}: only {next(iter(pair))} has a score")
            continue
        ea, eb = pair[a], pair[b]
        items = [score_items(e.path, e.result, model=e.model) for e in (ea, eb)]
        whys = [why for got, why in items if got is None]
        if whys:
            out.skipped.append(f"{task}: " + "; ".join(whys))
            continue
        tests, notes = pair_tests(task, [got for got, _ in items], B=B, seed=seed)
        if not tests:
            out.skipped.append("; ".join(notes) or f"{task}: not tested")
            continue
        rows.append((ea, eb, tests[0]))
        columns.append(TaskColumn(task, {a: ea.main_score, b: eb.main_score},
                                  {a: items[0][0], b: items[1][0]}, ea.lower_is_better))
    for (ea, eb, t), p in zip(rows, holm([t.p_value for _, _, t in rows]) if rows else []):
        out.tasks.append(TaskComparison(t.task, str(ea.result.get("main_score_name")), ea.main_score, eb.main_score,
                                        t.difference, t.low, t.high, t.p_value, float(p), t.n_items,
                                        ea.lower_is_better))
    if columns:
        ranks = rank_intervals(columns, [a, b], draws=draws, seed=seed)
        out.p_a_ahead = float(ranks.win[0, 1])
    return out


def _num(v: float, spec: str = ".4f") -> str:
    return "" if v is None or not math.isfinite(v) else format(v, spec)


def format_comparison(c: Comparison) -> str:
    """The terminal view: one row per task, the skipped tasks with their reasons, the overall line."""
    lines = [f"A = {c.a}", f"B = {c.b}", ""]
    verdicts = [t.verdict("A", "B", c.alpha) for t in c.tasks]
    if c.tasks:
        rows = [("task", "score", "A", "B", "A - B", "95% interval", "p", "p (Holm)", "n", "verdict")]
        for t, verdict in zip(c.tasks, verdicts):
            rows.append((t.task, t.score, _num(t.a), _num(t.b), _num(t.difference, "+.4f"),
                         f"[{_num(t.low, '+.4f')}, {_num(t.high, '+.4f')}]", _num(t.p_value, ".3g"),
                         _num(t.p_holm, ".3g"), t.n_items, verdict))
        lines += aligned(rows) + [""]
    else:
        lines += ["no task has per-item data for both models: nothing to test", ""]
    lines += [f"skipped {s}" for s in c.skipped] + ([""] if c.skipped else [])
    better, worse = verdicts.count("A better"), verdicts.count("B better")
    lines.append(f"{len(c.tasks)} task(s) compared: A better on {better}, B better on {worse}, not separable on "
                 f"{len(c.tasks) - better - worse} (Holm-adjusted p < {c.alpha:g}; paired permutation test, "
                 f"B = {c.B}, seed {c.seed})")
    if c.p_a_ahead is not None:
        lines.append(f"P(A ahead of B over these tasks) = {c.p_a_ahead:.3f} ({c.draws} draws resampling the tasks "
                     "and their items; Borda ranking, ties half)")
    return "\n".join(lines)
