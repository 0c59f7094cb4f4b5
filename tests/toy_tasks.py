"""Tiny STS data sets and registry patching for runner/CLI tests (no network, no torch)."""
from __future__ import annotations

import json
import random
from pathlib import Path

from tasks.sts import STSTask

WORDS = "cat dog bird fish tree car road house river cloud rain sun moon star food bread milk tea".split()


def write_sts(root: Path, folder: str, n: int = 40, seed: int = 0) -> Path:
    rng = random.Random(seed)
    d = root / folder
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "test.jsonl", "w") as f:
        for i in range(n):
            a = " ".join(rng.choices(WORDS, k=5))
            b = " ".join(rng.sample(a.split(), 3) + rng.choices(WORDS, k=2))
            f.write(json.dumps({"sentence1": f"{a} {folder}-{i}", "sentence2": f"{b} {folder}-{i}",
                                "score": rng.uniform(0, 5)}) + "\n")
    return d


def toy_task(i: int):
    return lambda: STSTask(f"ToySTS{i}", f"toy{i}", "none/none", "none")


def register(n_tasks: int = 4):
    """Add ToySTS0..n-1 and the toy models to the registry of this process."""
    from harness import registry
    for i in range(n_tasks):
        registry.TASKS[f"ToySTS{i}"] = f"tests.toy_tasks:_task{i}"
    registry.MODELS["toy-hash"] = "tests.toy_models:hash_model"
    registry.MODELS["toy-slow"] = "tests.toy_tasks:slow_model"


for _i in range(8):
    globals()[f"_task{_i}"] = toy_task(_i)


def slow_model():
    import time

    from adapters.models.callable import CallableModel

    from .toy_models import DIM, trigram_vectors

    def fn(texts):
        time.sleep(0.4)
        return trigram_vectors(texts)
    return CallableModel(fn, name="toy-slow", dim=DIM, revision="1", batch_size=8)
