"""Shared check for tasks' per-item results: every declared item score, recomputed from the `items` sidecar
with its statistic, is the score the task reported."""
from __future__ import annotations

import numpy as np

from harness.significance import select, statistic


def assert_items_reproduce(task, out, reference: dict | None = None, *, n_items: int | None = None,
                           exact: tuple = ()) -> dict:
    """`out`: the task's TaskOutput. `reference`: the values to reproduce (default `out.scores`; retrieval
    passes its unrounded scores). Scores named in `exact` must be equal bit for bit, the others to 1e-12
    (a mean of per-item values sums in another order than the task's average). Returns declared.items."""
    declared = task.declare(out.scores)["items"]
    items = out.sidecars["items"]
    assert items.dtype == np.float64 and items.shape[1] == len(declared["columns"])
    if n_items is not None:
        assert items.shape[0] == n_items, items.shape
    reference = out.scores if reference is None else reference
    assert declared["scores"], "no item scores declared"
    for score, decl in declared["scores"].items():
        value = statistic(decl["statistic"])(select(items, decl, declared["columns"]))
        if score in exact:
            assert value == reference[score], (score, value, reference[score])
        else:
            assert abs(value - reference[score]) <= 1e-12 * max(1.0, abs(reference[score])), (score, value,
                                                                                              reference[score])
    return declared
