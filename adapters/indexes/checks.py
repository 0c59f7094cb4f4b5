"""Range checks shared by the index adapters' `_check` hooks, each worded by `VectorIndex.param_error`.

Values reach an adapter from the CLI grid, a JSON/YAML file or Python, so a check also refuses the wrong
type (a bool or a string where an integer belongs) instead of letting the library raise deep inside.
"""
from __future__ import annotations

import numbers

from .base import IndexParamError, check_ef


def is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def int_param(index, params: dict, name: str, low: int = 1, high: int | None = None, *,
              none: str | None = None, why: str = "") -> int | None:
    """`params[name]` as an int in low..high; `none` (what None means) allows None; `why` says where a
    bound comes from ("nlist", "k"). Raises param_error."""
    value = params.get(name)
    if value is None and none is not None:
        return None
    if is_int(value) and value >= low and (high is None or value <= high):
        return int(value)
    valid = f"an integer >= {low}" if high is None else f"an integer in {low}..{high}"
    valid += f" ({why})" if why else ""
    raise index.param_error(name, value, valid + (f", or None ({none})" if none is not None else ""))


def positive_param(index, params: dict, name: str, *, none: str) -> float | None:
    """`params[name]` as a real number > 0, or None (`none`: what None means)."""
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and value > 0:
        return float(value)
    raise index.param_error(name, value, f"a number > 0, or None ({none})")


def bool_param(index, params: dict, name: str) -> bool:
    value = params.get(name)
    if not isinstance(value, bool):
        raise index.param_error(name, value, "true or false")
    return value


def threads_param(index, params: dict, name: str) -> None:
    int_param(index, params, name, 1, none="the library's default, all cores")


def ef_param(index, query: dict | None, k: int | None) -> None:
    """The query-time `ef` of every HNSW-type index: an integer >= 1 and >= k (base.check_ef)."""
    if query is None:
        return
    ef = int_param(index, query, "ef", 1)
    try:
        check_ef(ef, k)
    except IndexParamError as e:
        raise IndexParamError(f"{index.name} index: {e}; valid: an integer >= k") from None


def hnsw_params(index, build: dict, query: dict | None, k: int | None) -> None:
    """The names every HNSW-type adapter shares: M >= 2 (one link per node is no graph; the level
    multiplier 1/ln(M) is infinite at M = 1), ef_construction >= 1, ef >= k."""
    int_param(index, build, "M", 2)
    int_param(index, build, "ef_construction", 1)
    ef_param(index, query, k)


def chunk_param(index, params: dict, name: str = "add_chunk_size") -> None:
    int_param(index, params, name, 1, none="all rows at once")


def divisors(n: int) -> list[int]:
    return [m for m in range(1, n + 1) if n % m == 0]
