"""What the report and the gate read from a result file, written once for both: finite numbers,
flattened score names, the index (its name, and whether it searches exactly) and the task's
`declared` block (title, ranked, plots, per-score direction and gate tolerance; `Task.declare`).

A result written before tasks declared these has no `declared` block. It is rebuilt from the task
registry when the task name still resolves (`make_task(name).declare(scores)`); otherwise the job
counts as descriptive (unranked, titled by its task_type, no family plots) and the caller says so.
Nothing here knows a task type by name.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .results import flatten_scores  # noqa: F401  (re-exported: the report and the gate read it here)

FROM_RESULT, FROM_REGISTRY, UNDECLARED = "result", "registry", "none"   # Declared.source
EXACT_INDEX_NAMES = ("exact", "flat")   # only for results written before index specs said `exact`


def is_number(v) -> bool:
    """A finite int or float (bool is not a number here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def number(v) -> float | None:
    return float(v) if is_number(v) else None


def index_name(index) -> str | None:
    """The index a job searched with (None: no index involved)."""
    if index is None:
        return None
    if isinstance(index, dict):
        return str(index.get("name")) if index.get("name") is not None else "index"
    return str(index)


def index_is_exact(index) -> bool:
    """Exact (or no) search: the job can enter the overall ranking. The index adapter's spec says so
    (`"exact": true|false`); results written before that are judged by the index name."""
    if index is None:
        return True
    if isinstance(index, dict) and isinstance(index.get("exact"), bool):
        return index["exact"]
    return index_name(index) in EXACT_INDEX_NAMES


@dataclass(frozen=True)
class ScoreDecl:
    higher_is_better: bool | None    # None: descriptive (a move either way is a change)
    tolerance: float | None          # None: never gated

    @property
    def direction(self) -> int:
        return {True: 1, False: -1, None: 0}[self.higher_is_better]


@dataclass(frozen=True)
class Declared:
    title: str
    ranked: bool
    plots: tuple[str, ...] = ()
    scores: dict[str, ScoreDecl] = field(default_factory=dict)
    source: str = UNDECLARED         # FROM_RESULT | FROM_REGISTRY | UNDECLARED


def _score_decl(spec) -> ScoreDecl | None:
    if not isinstance(spec, dict):
        return None
    hib, tol = spec.get("higher_is_better"), spec.get("tolerance")
    if hib not in (True, False, None) or not (tol is None or (is_number(tol) and tol >= 0)):
        return None
    return ScoreDecl(hib, None if tol is None else float(tol))


def parse_declared(block, source: str = FROM_RESULT) -> Declared | None:
    """A `declared` block as a Declared, or None when absent or not of the documented shape."""
    if not isinstance(block, dict):
        return None
    title, ranked, plots, scores = block.get("title"), block.get("ranked"), block.get("plots", []), block.get("scores", {})
    if not isinstance(title, str) or not isinstance(ranked, bool) or not isinstance(plots, list) \
            or not all(isinstance(p, str) for p in plots) or not isinstance(scores, dict):
        return None
    decls = {str(k): d for k, d in ((k, _score_decl(v)) for k, v in scores.items()) if d is not None}
    return Declared(title, ranked, tuple(plots), decls, source)


_TASKS: dict[str, object] = {}   # name -> registered task (successes only: a plugin may register it later)


def registered_task(name: str):
    """The registry's task of that name, or None when it does not resolve (any failure: a renamed task,
    a missing plugin, a prefixed name whose folder is gone)."""
    if name not in _TASKS:
        try:
            from . import registry
            _TASKS[name] = registry.make_task(name)
        except Exception:   # noqa: BLE001  (an old result must never stop a report or a gate)
            return None
    return _TASKS[name]


def registered_rule(task: str, score: str) -> ScoreDecl | None:
    """The registered task's rule for a score name (any name resolves there), or None."""
    t = registered_task(str(task))
    if t is None:
        return None
    try:
        rule = t.rule_for(score)
        return ScoreDecl(rule.higher_is_better, rule.tolerance)
    except Exception:   # noqa: BLE001
        return None


def declared_of(result: dict) -> Declared:
    """The result's own `declared` block; else the registry's declaration of its task; else descriptive."""
    own = parse_declared(result.get("declared"))
    if own is not None:
        return own
    task = registered_task(str(result.get("task")))
    if task is not None:
        try:
            rebuilt = parse_declared(task.declare(result.get("scores") or {}), FROM_REGISTRY)
        except Exception:   # noqa: BLE001
            rebuilt = None
        if rebuilt is not None:
            return rebuilt
    return Declared(str(result.get("task_type") or "unknown"), False)
