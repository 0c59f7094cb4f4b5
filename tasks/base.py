"""The task protocol: declarative metadata + `load(data_root)` + `evaluate(model, index)`.

Like a scikit-learn estimator, every task has the same small surface:

- class-level metadata: `name`, `type`, `version`, `split`, `main_score`, `seed`, `params`
  (everything in `params` and `seed` goes into the job key and the result file);
- what the report and the gate need to know, declared here and recorded in every result file
  (`Task.declare`), so the engine never keeps a table of task types:
  `title` (human title of the task family), `ranked` (does the main score rank models on the
  leaderboard), `score_rules` (per score: higher is better / lower is better / descriptive, and the
  default absolute gate tolerance; first matching glob wins, `MACHINE_RULES` and `DEFAULT_RULE`
  close the list), and `plots` (`"module:function"` plot functions the report calls with this task's
  results, see tasks/plots/__init__.py) and `tables` (`"module:table_function"` functions returning
  tables the report renders, same arguments as plots);
- per-item results, for intervals and paired tests (harness/significance.py): `item_scores`, per score the
  statistic that recomputes it from columns of the task's `items` sidecar (`TaskOutput.sidecars["items"]`,
  float64, items x columns, rows in an order fixed by the data), e.g. `{"ndcg_at_10": {"statistic": "mean",
  "columns": ["ndcg_at_10"]}}`; recorded by `declare` as `declared.items` with the sidecar's column names
  (`items_matrix` builds the sidecar in that column order);
- how it uses an index: `uses_index` (one job per index point), `sweeps_index` (one job per index
  *build* point; `evaluate(model, index, query_points=[{...}, ...])` searches every query point on the
  one build), `index_k` (the k it searches with, for checks before any build);
- `load(data_root) -> DatasetRecord`: reads and validates the data (errors name file and line) and
  returns the sha256 of every file read; `data_root=None` means the real public loader;
- `evaluate(model, index=None) -> TaskOutput | dict`: scores, as fractions, unrounded.

A task's behaviour comes only from `params` (constructor arguments set their defaults); an unknown
parameter is an error listing the valid ones (`set_params`). Tasks never load models; they get a
`CachedModel` (or any object with `encode` and `meta`), and any index through `harness.registry`.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from harness.data import DatasetRecord
from harness.errors import HarnessError
from harness.results import flatten_scores

HIGHER, LOWER, DESCRIPTIVE = True, False, None   # values of ScoreRule.higher_is_better


@dataclass
class TaskOutput:
    scores: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)   # stored in the result under "details"
    sidecars: dict[str, np.ndarray] = field(default_factory=dict)  # written as <result stem>.<key>.npy


@dataclass(frozen=True)
class ScoreRule:
    """How the report and the gate read the scores whose name matches `pattern` (a glob).

    higher_is_better: True (a drop is a regression), False (a rise is), None (descriptive: a move
    beyond the tolerance either way is a change). tolerance: absolute, in the score's own units;
    None means the score is never gated (it measures the machine, not the model).
    """
    pattern: str
    higher_is_better: bool | None
    tolerance: float | None


# Timings, throughput, sizes and memory describe the machine: reported, never gated. Every task's
# rules end with these and DEFAULT_RULE, so a score always resolves.
MACHINE_RULES: tuple[ScoreRule, ...] = tuple(
    ScoreRule(p, None, None) for p in ("*qps*", "*_s", "*seconds*", "*bytes*", "*latency*", "*time*", "*memory*",
                                       "*rss*"))
DEFAULT_RULE = ScoreRule("*", True, 0.001)   # MTEB-style fractions: a tenth of a point


class Task:
    name: ClassVar[str] = ""
    type: ClassVar[str] = ""
    version: ClassVar[int] = 1
    split: str = "test"
    main_score: ClassVar[str] = ""
    uses_index: ClassVar[bool] = False   # True: one job per (task, index point)
    sweeps_index: ClassVar[bool] = False  # True: one job per build point, evaluate(..., query_points=[...])
    index_k: ClassVar[int | None] = None  # the k of its searches (plan-time checks such as ef >= k)
    seed: int = 42

    # -- what the report and the gate need (recorded in each result file by `declare`) -------------
    title: ClassVar[str] = ""                        # human title of the family, e.g. "Retrieval"
    ranked: ClassVar[bool] = False                   # main score ranks models (MTEB Borda) on the leaderboard
    score_rules: ClassVar[tuple[ScoreRule, ...]] = ()   # first match wins; MACHINE_RULES, DEFAULT_RULE follow
    plots: ClassVar[tuple[str, ...]] = ()            # "module:plot_function", called by the report
    tables: ClassVar[tuple[str, ...]] = ()           # "module:table_function", rendered by the report
    # score -> {"statistic": name in harness/item_statistics.py, "columns": [items sidecar columns]}
    item_scores: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, **params):
        self.params: dict[str, Any] = dict(self.default_params())
        self.set_params(**params)
        self.dataset: DatasetRecord | None = None

    def default_params(self) -> dict[str, Any]:
        return {}

    def set_params(self, **params) -> "Task":
        """Override parameters; an unknown name is an error listing the valid ones (as index adapters do)."""
        valid = self.default_params()
        unknown = sorted(k for k in params if k not in valid)
        if unknown:
            raise HarnessError(f"task {self.name or type(self).__name__}: unknown parameter(s) "
                               f"{', '.join(map(repr, unknown))}; valid: {', '.join(sorted(valid)) or 'none'}")
        self.params.update(params)
        return self

    def default_indexes(self) -> list:
        """The index grid a run uses for this task when `--indexes` / `--index-config` give none: entries in
        the CLI short form ("hnswlib(M=16)[ef=40]") or as config dicts ({"name", "build", "query"})."""
        return ["exact"] if (self.uses_index or self.sweeps_index) else []

    def load(self, data_root: Path | None) -> DatasetRecord:
        raise NotImplementedError

    def evaluate(self, model, index=None) -> TaskOutput:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What defines this task in a job key and a result file."""
        return {"task": self.name, "task_version": self.version, "task_type": self.type, "split": self.split,
                "main_score_name": self.main_score, "seed": self.seed, "params": self.params}

    # -- declarations ------------------------------------------------------------------------------
    @classmethod
    def rule_for(cls, score: str) -> ScoreRule:
        """The first rule whose glob matches the score name (a score always resolves)."""
        for rule in (*cls.score_rules, *MACHINE_RULES, DEFAULT_RULE):
            if fnmatch.fnmatchcase(score, rule.pattern):
                return rule
        return DEFAULT_RULE

    def declare(self, scores: dict[str, Any]) -> dict[str, Any]:
        """The `declared` block of a result file: title, ranked, plots, and per score its direction
        (`higher_is_better`: true / false / null = descriptive) and default gate `tolerance`."""
        numeric = [k for k, v in flatten_scores(scores).items() if not isinstance(v, str)]
        names = list(dict.fromkeys([self.main_score, *numeric]))
        per_score = {}
        for name in names:
            rule = self.rule_for(name)
            per_score[name] = {"higher_is_better": rule.higher_is_better, "tolerance": rule.tolerance}
        out = {"title": self.title or self.type, "ranked": bool(self.ranked), "plots": list(self.plots),
               "tables": list(self.tables), "scores": per_score}
        items = self.items_declaration(scores)
        if items:
            out["items"] = items
        return out

    def items_declaration(self, scores: dict[str, Any]) -> dict[str, Any] | None:
        """`declared.items`: the `item_scores` of the scores this run produced, and the `items` sidecar's
        columns (their columns, in declaration order); None when there are none."""
        produced = flatten_scores(scores)
        chosen = {name: {"statistic": d["statistic"], "columns": list(d["columns"])}
                  for name, d in self.item_scores.items() if name in produced}
        if not chosen:
            return None
        columns = list(dict.fromkeys(c for d in chosen.values() for c in d["columns"]))
        return {"columns": columns, "scores": chosen}

    def items_matrix(self, scores: dict[str, Any], values: dict[str, Any]) -> np.ndarray:
        """The `items` sidecar: `values` (column name -> one value per item) in the declared column order."""
        decl = self.items_declaration(scores)
        if decl is None:
            raise HarnessError(f"task {self.name}: no item_scores among the scores produced")
        missing = [c for c in decl["columns"] if c not in values]
        if missing:
            raise HarnessError(f"task {self.name}: items columns {missing} were not computed")
        return np.column_stack([np.asarray(values[c], dtype=np.float64) for c in decl["columns"]])
