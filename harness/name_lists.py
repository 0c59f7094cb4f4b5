"""Comma-separated name lists (`--tasks`, `--models`) and names that stand for several tasks.

Names may hold commas inside brackets (`mteb-benchmark:MTEB(eng, v2)`), so a list splits on top-level
commas only. A name whose prefix is in `registry.TASK_EXPANDERS` (`mteb-benchmark:<name>`) is replaced
by the task names its expander returns, in order, each kept once.
"""
from __future__ import annotations

from .errors import HarnessError

_CLOSE = {"(": ")", "[": "]", "{": "}"}


def split_names(text: str, where: str = "--tasks") -> list[str]:
    """`a,b(c, d),e` -> ["a", "b(c, d)", "e"]: commas inside (), [] or {} belong to the name."""
    names, depth, start = [], [], 0
    for i, ch in enumerate(text):
        if ch in _CLOSE:
            depth.append(_CLOSE[ch])
        elif ch in _CLOSE.values():
            if not depth or depth.pop() != ch:
                raise HarnessError(f"{where}: unbalanced {ch!r} at character {i} of {text!r}")
        elif ch == "," and not depth:
            names.append(text[start:i])
            start = i + 1
    if depth:
        raise HarnessError(f"{where}: {depth[-1]!r} missing at the end of {text!r}")
    names.append(text[start:])
    return [n.strip() for n in names if n.strip()]


def expand_tasks(names: list[str]) -> list[str]:
    """Task names with every expandable name (`mteb-benchmark:...`) replaced by its tasks."""
    from . import registry
    out: list[str] = []
    for name in names:
        prefix, sep, rest = name.partition(":")
        if sep and prefix in registry.TASK_EXPANDERS:
            if not rest:
                raise HarnessError(f"{name!r}: give a name after the colon, e.g. {prefix}:MTEB(eng, v2)")
            out.extend(registry.load_target(registry.TASK_EXPANDERS[prefix])(rest))
        else:
            out.append(name)
    return list(dict.fromkeys(out))
