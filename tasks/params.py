"""Checks of task parameter values, run at load time so a bad `--task-params` fails before any model
loads. Every error names the task, the parameter, the value given and what is valid."""
from __future__ import annotations

import numbers

from harness.errors import HarnessError


def _fail(task, name: str, value, valid: str):
    raise HarnessError(f"task {task.name}: parameter {name!r} = {value!r} is not valid; valid: {valid}")


def choice(task, name: str, valid) -> str:
    value = task.params[name]
    if value not in valid:
        _fail(task, name, value, ", ".join(map(str, valid)))
    return value


def integer(task, name: str, minimum: int = 1, *, optional: bool = False) -> int | None:
    value = task.params[name]
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        _fail(task, name, value, f"an integer >= {minimum}" + (" or null" if optional else ""))
    return int(value)


def number(task, name: str, low: float | None = None, high: float | None = None, *, high_open: bool = False,
           optional: bool = False) -> float | None:
    value = task.params[name]
    if value is None and optional:
        return None
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and value == value
    ok = ok and (low is None or value >= low) and (high is None or (value < high if high_open else value <= high))
    if not ok:
        lo, hi = low if low is not None else "-inf", high if high is not None else "inf"
        bounds = f"[{lo}, {hi}{')' if high_open else ']'}"
        _fail(task, name, value, f"a number in {bounds}" + (" or null" if optional else ""))
    return float(value)


def flag(task, name: str) -> bool:
    value = task.params[name]
    if not isinstance(value, bool):
        _fail(task, name, value, "true, false")
    return value


def int_list(task, name: str, minimum: int = 1) -> list[int]:
    value = task.params[name]
    if (isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") or not list(value)
            or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum for v in value)):
        _fail(task, name, value, f"a non-empty list of integers >= {minimum}")
    return [int(v) for v in value]
