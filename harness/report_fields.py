"""What the report and the gate read from a result file, written once for both: finite numbers,
flattened score names, the index (its name, and whether it searches exactly) and the task's
`declared` block (title, ranked, plots, tables, per-score direction and gate tolerance; `Task.declare`).

A result written before tasks declared these has no `declared` block. It is rebuilt from the task
registry when the task name still resolves (`make_task(name).declare(scores)`); otherwise the job
counts as descriptive (unranked, titled by its task_type, no family plots) and the caller says so.
Nothing here knows a task type by name.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import math
import re
from dataclasses import dataclass, field

from .results import canonical_json, flatten_scores  # noqa: F401  (flatten_scores: re-exported for the gate)

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


def natural_key(text) -> list:
    """Sort key putting "hnswlib(M=8)" before "hnswlib(M=16)"."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(text or ""))]


def index_point(index) -> str | None:
    """What identifies one index point of a job (name, build and query parameters): two results of one
    (model, task) with different points are different jobs (an index sweep writes one per build point)."""
    if index is None:
        return None
    if not isinstance(index, dict):
        return str(index)
    # a point key that is the bare name (the adapter's defaults) and a single query point (already the
    # index's `query` defaults) add nothing: a result written before grids existed (the published ones)
    # then matches its twin written now
    ident = {k: index.get(k) for k in ("name", "build", "query")}
    if index.get("point") and index.get("point") != index.get("name"):
        ident["point"] = index["point"]
    if len(index.get("query_points") or ()) > 1:
        ident["query_points"] = index["query_points"]
    return canonical_json(ident)


def _point_params(index) -> dict[str, str]:
    """An index spec's build and query parameters as {"build.M": "16", "query.ef": "40", ...}."""
    out: dict[str, str] = {}
    for part in ("build", "query"):
        params = index.get(part) if isinstance(index, dict) else None
        if isinstance(params, dict):
            out.update({f"{part}.{k}": v if isinstance(v, str) else json.dumps(v, sort_keys=True)
                        for k, v in params.items()})
    return out


def point_labels(specs: list) -> dict[str, str]:
    """Short, distinct labels for the index points of ONE index name: the name alone when there is one
    point, else the name with the build / query parameters that differ between the points, in the CLI
    short form (`hnswlib(M=32)[ef=40]`); the spec's own `point` key (or a digest) where those do not
    tell them apart. Keyed by `index_point`."""
    points = {index_point(s): s for s in specs if s is not None}
    names = {p: index_name(s) for p, s in points.items()}
    if len(points) <= 1:
        return names
    params = {p: _point_params(s) for p, s in points.items()}
    keys = sorted(set().union(*params.values()))
    varying = [k for k in keys if len({params[p].get(k) for p in points}) > 1]
    labels = {}
    for p in points:
        build = [f"{k[6:]}={params[p].get(k, '-')}" for k in varying if k.startswith("build.")]
        query = [f"{k[6:]}={params[p].get(k, '-')}" for k in varying if k.startswith("query.")]
        labels[p] = names[p] + (f"({';'.join(build)})" if build else "") + (f"[{';'.join(query)}]" if query else "")
    if len(set(labels.values())) < len(labels):
        for p, s in points.items():
            own = s.get("point") if isinstance(s, dict) else None
            digest = hashlib.sha256(p.encode()).hexdigest()[:6]
            labels[p] = own if isinstance(own, str) and own else f"{names[p]} #{digest}"
    return labels


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
    tables: tuple[str, ...] = ()     # "module:table_function" (report_task_tables)


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
    title, ranked, scores = block.get("title"), block.get("ranked"), block.get("scores", {})
    plots, tables = block.get("plots", []), block.get("tables", [])
    if not isinstance(title, str) or not isinstance(ranked, bool) or not isinstance(scores, dict) \
            or not all(isinstance(f, list) and all(isinstance(t, str) for t in f) for f in (plots, tables)):
        return None
    decls = {str(k): d for k, d in ((k, _score_decl(v)) for k, v in scores.items()) if d is not None}
    return Declared(title, ranked, tuple(plots), decls, source, tuple(tables))


def declared_function(target: str, prefix: str):
    """The callable a `declared.plots` / `declared.tables` entry names, "module:<prefix>name"; only
    attributes named with the prefix are called (a ValueError or ImportError says why not)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr.startswith(prefix):
        raise ValueError(f"{target!r} is not 'module:{prefix}function' (only functions named {prefix}* are called)")
    fn = getattr(importlib.import_module(module_name), attr, None)
    if not callable(fn):
        raise ValueError(f"{module_name} has no function {attr}")
    return fn


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
