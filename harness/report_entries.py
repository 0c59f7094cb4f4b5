"""The report's input: result files from the user's folder and the published leaderboard's, as entries.

The user's results (`--results`, default `results/`) and the published ones (`leaderboard/results/`
of this checkout, found beside the harness package; `--published DIR`, or none) are read with
`harness.results.load_result_files`; a file it rejects becomes a note, never a crash. Published
entries keep their result untouched but are labelled `<model> (published)`, so they sit beside the
user's own rows in every table, plot and page. Two results of one (label, task, index point) keep the
newest; an index point is the index with its build and query parameters (`report_fields.index_point`),
so every build point of an index sweep is its own entry, labelled by the parameters that differ.

What a task type is called and whether it is ranked comes from the results' `declared` blocks
(`report_fields.declared_of`), never from a table here.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import HarnessError
from .report_fields import (FROM_REGISTRY, FROM_RESULT, UNDECLARED, Declared, declared_of, index_is_exact,
                            index_name, index_point, is_number, natural_key, point_labels)
from .results import load_result_files, read_result, safe_name

PUBLISHED_SUFFIX = " (published)"


def default_published_dir() -> Path | None:
    """<checkout>/leaderboard/results when the harness runs from a checkout that has it."""
    p = Path(__file__).resolve().parent.parent / "leaderboard" / "results"
    return p if p.is_dir() else None


def shown_path(path: Path) -> str:
    """A folder as the reader should see it: relative to the working directory when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def page_slug(name: str) -> str:
    """A file name for a model or task page: readable, and unique even when two names sanitise alike."""
    return f"{safe_name(name)[:60]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


@dataclass
class Entry:
    """One result file."""
    path: Path
    result: dict
    rel: str = ""                    # path relative to its results folder (shown as provenance)
    published: bool = False          # from the published leaderboard folder
    declared: Declared | None = None  # the task's declaration (filled from the result when not given)
    ranked: bool = False             # its task type is ranked (set by `resolve_types`)
    type_title: str = ""
    index_label: str | None = None   # the index name, with the parameters that tell its points apart

    def __post_init__(self):
        if self.declared is None:
            self.declared = declared_of(self.result)
        self.type_title = self.type_title or self.declared.title

    @property
    def model(self) -> str:
        """The row label: the model name, marked when the result is a published one."""
        return str(self.result.get("model")) + (PUBLISHED_SUFFIX if self.published else "")

    @property
    def task(self) -> str:
        return str(self.result.get("task"))

    @property
    def task_type(self) -> str:
        return str(self.result.get("task_type") or "unknown")

    @property
    def index(self) -> str | None:
        return index_name(self.result.get("index"))

    @property
    def index_point(self) -> str | None:
        return index_point(self.result.get("index"))

    @property
    def exact(self) -> bool:
        return index_is_exact(self.result.get("index"))

    @property
    def ok(self) -> bool:
        return self.result.get("status") == "ok" and is_number(self.result.get("main_score"))

    @property
    def main_score(self) -> float | None:
        return float(self.result["main_score"]) if self.ok else None

    @property
    def lower_is_better(self) -> bool:
        """The task declares its main score lower-is-better (ranked the other way round)."""
        rule = self.declared.scores.get(str(self.result.get("main_score_name")))
        return rule is not None and rule.higher_is_better is False

    @property
    def column(self) -> str:
        """Table column: the task, plus the index when it searches approximately."""
        label = self.index_label or self.index
        return self.task if self.exact and label == self.index else f"{self.task} [{label}]"

    @property
    def in_overall(self) -> bool:
        return self.ranked and self.exact

    @property
    def plot_result(self) -> dict:
        """The result as plot functions get it: the model named by its row label."""
        return dict(self.result, model=self.model) if self.published else self.result


@dataclass
class Loaded:
    entries: list[Entry]
    notes: list[str]
    results_dir: Path
    published_dir: Path | None
    n_user: int = 0
    n_published: int = 0
    types: dict[str, "TaskType"] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskType:
    key: str        # the results' task_type
    title: str
    ranked: bool


def _published_dir(published, root: Path) -> Path | None:
    if published is False or published is None:
        return None
    if published is True:
        pub = default_published_dir()
    else:
        pub = Path(published)
        if not pub.is_dir():
            raise HarnessError(f"published results folder not found: {pub}")
    if pub is not None and root.exists():
        p, r = pub.resolve(), root.resolve()
        if p == r or r in p.parents or p in r.parents:
            return None     # the published folder is (inside) the one rendered: read it once, as the user's
    return pub


def _read(root: Path, published: bool, notes: list[str]) -> list[Entry]:
    if root.is_file():
        obj = read_result(root)
        if not obj or "task" not in obj or "model" not in obj:
            raise HarnessError(f"{root}: not a result file (a JSON object with 'task' and 'model')")
        pairs, base = [(root, obj)], root.parent
    else:
        pairs, problems = load_result_files(root)
        notes += [f"result file skipped: {p}" for p in problems]
        base = root
    return [Entry(p, obj, str(p.relative_to(base)) if p.is_relative_to(base) else str(p), published)
            for p, obj in pairs]


def load_entries(results_dir: str | os.PathLike = "results", published=True) -> Loaded:
    """The user's results and (published=True: the checkout's leaderboard/results; a path; False/None: none)
    the published ones. A missing or empty user folder is fine when there are published results."""
    root = Path(results_dir)
    pub = _published_dir(published, root)
    notes: list[str] = []
    if root.exists():
        user = _read(root, False, notes)
    elif pub is None:
        raise HarnessError(f"results folder not found: {root}")
    else:
        user = []
    if pub is not None and not user:
        notes.append(f"no results of your own in {root} yet (run `run.py run`): showing the published results only")
    pubs = _read(pub, True, notes) if pub is not None else []
    if not user and not pubs:
        raise HarnessError(f"no result files under {root} (expected <model>/<task>.json from `run.py run`)")
    if pubs:
        notes.append(f"rows labelled '{PUBLISHED_SUFFIX.strip()}' are the published leaderboard's results, read "
                     f"from {shown_path(pub)}; the others are yours, from {root}")
    label_points(user + pubs)
    chosen: dict[tuple, Entry] = {}
    for e in user + pubs:
        key = (e.model, e.task, e.index_point)
        old = chosen.get(key)
        if old is not None:
            keep, drop = sorted((old, e), key=lambda x: str(x.result.get("created_at") or ""), reverse=True)
            notes.append(f"{e.model} / {e.column}: two result files ({keep.rel}, {drop.rel}); kept the newer {keep.rel}")
            e = keep
        chosen[key] = e
    entries = sorted(chosen.values(), key=lambda x: (x.task_type, x.task, natural_key(x.index_label), x.model))
    types = resolve_types(entries, notes)
    for e in entries:
        if e.result.get("status") == "ok" and not e.ok:
            notes.append(f"{e.model} / {e.column}: status ok but no finite main score; shown as missing")
    return Loaded(entries, notes, root, pub, sum(not e.published for e in entries),
                  sum(e.published for e in entries), types)


def label_points(entries: list[Entry]) -> None:
    """Sets `index_label` on every entry: per (task, index name), the parameters that differ between its points."""
    groups: dict[tuple, list[Entry]] = {}
    for e in entries:
        groups.setdefault((e.task, e.index), []).append(e)
    for group in groups.values():
        labels = point_labels([e.result.get("index") for e in group])
        for e in group:
            e.index_label = labels.get(e.index_point, e.index)


_SOURCE_ORDER = {FROM_RESULT: 0, FROM_REGISTRY: 1, UNDECLARED: 2}


def resolve_types(entries: list[Entry], notes: list[str]) -> dict[str, TaskType]:
    """Title and ranking of each task type, as its results declare them (a result's own block first,
    then the registry's, newest first); sets `ranked` and `type_title` on every entry."""
    by_type: dict[str, list[Entry]] = {}
    for e in entries:
        by_type.setdefault(e.task_type, []).append(e)
    types: dict[str, TaskType] = {}
    for key, group in by_type.items():
        best = sorted(group, key=lambda e: str(e.result.get("created_at") or ""), reverse=True)
        best.sort(key=lambda e: _SOURCE_ORDER[e.declared.source])
        d = best[0].declared
        types[key] = TaskType(key, d.title, d.ranked)
        seen = {(e.declared.title, e.declared.ranked) for e in group if e.declared.source != UNDECLARED}
        if len(seen) > 1:
            notes.append(f"task type {key}: its results declare different titles or rankings "
                         f"({sorted(seen)}); used the newest, {d.title!r} ({'ranked' if d.ranked else 'descriptive'})")
        for e in group:
            e.ranked, e.type_title = d.ranked, d.title
    undeclared = sorted({(e.task, e.task_type) for e in entries if e.declared.source == UNDECLARED})
    for task, task_type in undeclared:
        notes.append(f"{task}: its results have no 'declared' block and no task of that name is registered "
                     f"here; shown as descriptive (unranked) under '{task_type}', without family plots")
    rebuilt = sum(e.declared.source == FROM_REGISTRY for e in entries)
    if rebuilt:
        notes.append(f"{rebuilt} result file(s) have no 'declared' block (written before tasks declared it); "
                     "their title, ranking, score directions and plots come from the task registry")
    return types
