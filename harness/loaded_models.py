"""The model of the current job, loaded once per process and kept while jobs (or encoding shards) of the same
model follow: loading MiniLM once serves every task of a run. At most one model is loaded per process, so a run
over many models, or a worker serving several, holds one at a time."""
from __future__ import annotations

from .errors import HarnessError
from . import registry


def construct(kind: str, name: str, factory, *args):
    """factory(name): a HarnessError as it is; any other failure becomes one naming the task or model."""
    try:
        return factory(name, *args)
    except HarnessError:
        raise
    except Exception as e:
        raise HarnessError(f"{kind} {name!r} cannot be constructed: {type(e).__name__}: {e}") from e


_LOADED: dict = {}


def get_model(name: str, data_root: str | None = None):
    from .data import resolve_data_root
    root = resolve_data_root(data_root)
    key = (name, str(root))
    if key not in _LOADED:
        release_model()
        _LOADED[key] = construct("model", name, lambda n: registry.make_model(n, data_root=root))
    return _LOADED[key]


def release_model() -> None:
    """Drop the loaded model and free its memory before another one loads."""
    if _LOADED:
        _LOADED.clear()
        import gc
        gc.collect()
