"""The task protocol: declarative metadata + `load(data_root)` + `evaluate(model, index)`.

Like a scikit-learn estimator, every task has the same small surface:

- class-level metadata: `name`, `type`, `version`, `split`, `main_score`, `seed`, `params`
  (everything in `params` and `seed` goes into the job key and the result file);
- `load(data_root) -> DatasetRecord`: reads and validates the data (errors name file and line) and
  returns the sha256 of every file read; `data_root=None` means the real public loader;
- `evaluate(model, index=None) -> TaskOutput | dict`: scores, as fractions, unrounded.

Tasks never load models; they get a `CachedModel` (or any object with `encode` and `meta`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from harness.data import DatasetRecord


@dataclass
class TaskOutput:
    scores: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)   # stored in the result under "details"
    sidecars: dict[str, np.ndarray] = field(default_factory=dict)  # written as <result stem>.<key>.npy


class Task:
    name: ClassVar[str] = ""
    type: ClassVar[str] = ""
    version: ClassVar[int] = 1
    split: str = "test"
    main_score: ClassVar[str] = ""
    uses_index: ClassVar[bool] = False   # True: one job per (task, index)
    seed: int = 42

    def __init__(self, **params):
        self.params: dict[str, Any] = dict(self.default_params(), **params)
        self.dataset: DatasetRecord | None = None

    def default_params(self) -> dict[str, Any]:
        return {}

    def load(self, data_root: Path | None) -> DatasetRecord:
        raise NotImplementedError

    def evaluate(self, model, index=None) -> TaskOutput:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What defines this task in a job key and a result file."""
        return {"task": self.name, "task_version": self.version, "task_type": self.type, "split": self.split,
                "main_score_name": self.main_score, "seed": self.seed, "params": self.params}
