"""`mteb:<TaskName>`: any MTEB task, loaded and scored by mteb itself, with our models and embedding cache.

The task comes from mteb's catalogue (`mteb.get_task`, or a locally registered task, tasks/mteb_catalogue.py);
its data from mteb's loader (the Hugging Face hub at the revision mteb pins, or the local HF cache); its
scores from `mteb.evaluate`, run on our model through `as_mteb_encoder` (every vector through our cache).
The result file holds mteb's main score (its task score: the mean main score over the evaluated splits
and subsets), every score mteb reports (one split and subset: as mteb names them; several: under
`per_subset.<split>.<subset>.`), and in `details.mteb` the mteb version, the dataset revision and the
task's metadata (type, languages, domains, main score, ...).

Parameters: `splits`, `subsets` (default: the task's own, or the benchmark's for `Name@Benchmark`) and
`batch_size` (passed to the model's encode; mteb's data loader batch size otherwise).

Offline (the default of run.py), only data already in the local Hugging Face cache loads; the error says
so and how to allow the download (`HARNESS_ONLINE=1`).
"""
from __future__ import annotations

import contextlib
import fnmatch
import os
from pathlib import Path
from typing import Any

from harness.data import DatasetRecord, hub_available
from harness.errors import HarnessError

from .base import DEFAULT_RULE, DESCRIPTIVE, LOWER, MACHINE_RULES, ScoreRule, Task, TaskOutput
from .mteb_catalogue import task_factory

# Rules by mteb task type, then for every type; anything else: higher is better within 0.001 (MTEB's fractions)
TYPE_RULES: dict[str, tuple[ScoreRule, ...]] = {
    "Regression": (ScoreRule("*rmse*", LOWER, 0.001), ScoreRule("*mae*", LOWER, 0.001)),   # errors
}
COMMON_RULES = (ScoreRule("*_std", DESCRIPTIVE, 0.01),          # spread over draws (clustering bootstrap)
                ScoreRule("*threshold*", DESCRIPTIVE, None))    # a similarity cut-off, not a quality
METADATA_FIELDS = ("name", "type", "category", "description", "reference", "dataset", "eval_splits", "eval_langs",
                   "main_score", "date", "domains", "task_subtypes", "license", "annotations_creators",
                   "dialect", "sample_creation", "modalities", "is_public", "superseded_by")
SUBSET_KEYS = ("hf_subset", "languages", "main_score", "mteb_version")   # per-subset bookkeeping, not scores


class MtebTask(Task):
    version = 1
    ranked = True   # MTEB ranks models on every task type's main score

    def __init__(self, spec: str, **params):
        self.spec = spec
        self.name = f"mteb:{spec}"
        self._factory = task_factory(spec)   # checks the name now (plan time)
        self.metadata = self._factory().metadata
        self.type = f"mteb-{self.metadata.type.lower()}"
        self.main_score = self.metadata.main_score
        self.title = f"MTEB {self.metadata.type}"
        self._selected: tuple[tuple, Any] | None = None
        super().__init__(**params)

    def default_params(self) -> dict[str, Any]:
        return {"splits": None, "subsets": None, "batch_size": None}

    def set_params(self, **params) -> "MtebTask":
        super().set_params(**params)
        self.mteb_task()   # unknown splits or subsets fail now, at plan time
        return self

    def rule_for(self, score: str) -> ScoreRule:
        """Rules of this task's mteb type, then the common ones; machine rules and the default close the list."""
        for rule in (*TYPE_RULES.get(self.metadata.type, ()), *COMMON_RULES, *MACHINE_RULES, DEFAULT_RULE):
            if fnmatch.fnmatchcase(score, rule.pattern):
                return rule
        return DEFAULT_RULE

    # -- the mteb task object, filtered by the parameters ------------------------------------------
    def mteb_task(self):
        """The mteb task object with this job's splits and subsets (one per parameter setting)."""
        key = (tuple(self.params["splits"] or ()), tuple(self.params["subsets"] or ()))
        if self._selected is None or self._selected[0] != key:
            self._selected = (key, self._filtered(self._factory()))
        return self._selected[1]

    def _filtered(self, task):
        splits, subsets = self.params["splits"], self.params["subsets"]
        if splits is not None:
            unknown = sorted(set(_as_list(splits, "splits", self.name)) - set(task.eval_splits))
            if unknown:
                raise HarnessError(f"task {self.name}: unknown split(s) {unknown}; valid: {list(task.eval_splits)}")
            task.filter_eval_splits(list(splits))
        if subsets is not None:
            unknown = sorted(set(_as_list(subsets, "subsets", self.name)) - set(task.hf_subsets))
            if unknown:
                raise HarnessError(f"task {self.name}: unknown subset(s) {unknown}; valid: {list(task.hf_subsets)}")
            task.filter_languages(None, hf_subsets=list(subsets))
        return task

    def describe(self) -> dict[str, Any]:
        task = self.mteb_task()
        return {**super().describe(), "split": ",".join(task.eval_splits), "hf_subsets": list(task.hf_subsets)}

    # -- the protocol --------------------------------------------------------------------------------
    def load(self, data_root: Path | None) -> DatasetRecord:
        """mteb's own loader (data_root is not used). Loading here, not inside mteb.evaluate, times it
        apart and turns a missing download into one clear error."""
        import mteb
        task = self.mteb_task()
        try:
            for leaf in _leaf_tasks(task):
                leaf.load_data()
        except HarnessError:
            raise
        except Exception as e:   # datasets / huggingface_hub errors: say what is missing and what to do
            raise self._load_error(e) from None
        ds = self.metadata.dataset or {}
        self.dataset = DatasetRecord(path=str(ds.get("path")), source="mteb",
                                     sha256={"revision": str(ds.get("revision")), "mteb_version": mteb.__version__})
        return self.dataset

    def _load_error(self, e: Exception) -> HarnessError:
        ds = self.metadata.dataset or {}
        where = f"{ds.get('path')} at revision {ds.get('revision')}"
        why = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:300]
        if not hub_available():
            return HarnessError(
                f"task {self.name}: its data set {where} is not in the local Hugging Face cache, and the hub is "
                "off (run.py stays offline unless HARNESS_ONLINE=1): run once with HARNESS_ONLINE=1 to download "
                f"it into the cache (later runs read it offline), or point HF_HOME at a cache that holds it ({why})")
        return HarnessError(f"task {self.name}: mteb could not load its data set {where} ({why})")

    def evaluate(self, model, index=None) -> TaskOutput:
        import mteb

        from adapters.models.mteb_encoder import as_mteb_encoder
        task = self.mteb_task()
        encoder = as_mteb_encoder(model, cache=False, batch_size=self.params["batch_size"])
        with _datasets_bars(getattr(model, "progress", True) and os.environ.get("HARNESS_PROGRESS", "1") != "0"):
            result = mteb.evaluate(encoder, task, cache=None, overwrite_strategy="always", co2_tracker=False,
                                   show_progress_bar=False, raise_error=True,
                                   encode_kwargs={"batch_size": self.params["batch_size"] or 32,
                                                  "show_progress_bar": False})
        if result.exceptions or len(result.task_results) != 1:
            raise HarnessError(f"task {self.name}: mteb returned no result ({result.exceptions})")
        return task_output(result.task_results[0], task)


def task_output(task_result, task) -> TaskOutput:
    """Our scores and details from mteb's TaskResult (see the module docstring for the layout)."""
    units = [(split, s) for split, per_subset in task_result.scores.items() for s in per_subset]
    if not units:
        raise HarnessError(f"task mteb:{task.metadata.name}: mteb evaluated no split or subset")

    def scores_of(s: dict) -> dict:
        return {k: v for k, v in s.items() if k not in SUBSET_KEYS}

    if len(units) == 1:
        scores = scores_of(units[0][1])
    else:
        scores = {"per_subset": {split: {s["hf_subset"]: scores_of(s) for s in per_subset}
                                 for split, per_subset in task_result.scores.items()}}
    scores[task.metadata.main_score] = float(task_result.get_score())   # mteb's task score
    meta = task.metadata.model_dump(mode="json", include=set(METADATA_FIELDS))
    details = {"mteb": {"version": task_result.mteb_version, "dataset_revision": task_result.dataset_revision,
                        "task": meta, "languages": list(task.metadata.languages),
                        "evaluated": {split: [s["hf_subset"] for s in per_subset]
                                      for split, per_subset in task_result.scores.items()},
                        "subset_languages": {f"{split}/{s['hf_subset']}": s.get("languages")
                                             for split, s in units}},
               "evaluation_time_s": task_result.evaluation_time}
    return TaskOutput(scores=scores, details=details)


@contextlib.contextmanager
def _datasets_bars(show: bool):
    """The `datasets` progress bars mteb's data preparation draws, off for a run without progress bars."""
    import datasets
    if show or not datasets.is_progress_bar_enabled():
        yield
        return
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        datasets.enable_progress_bars()


def _leaf_tasks(task) -> list:
    """The tasks whose data loads: an aggregate task's parts, or the task itself."""
    from mteb.abstasks.aggregated_task import AbsTaskAggregate
    return list(task.metadata.tasks) if isinstance(task, AbsTaskAggregate) else [task]


def _as_list(value, param: str, task: str) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise HarnessError(f"task {task}: parameter {param!r} must be a list of names, got {value!r}")
    return list(value)


def from_name(spec: str) -> MtebTask:
    """Registry factory of `mteb:<TaskName>` and `mteb:<TaskName>@<Benchmark>`."""
    return MtebTask(spec)
