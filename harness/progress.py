"""Progress bars on stderr (tqdm), silenced with HARNESS_PROGRESS=0 or when not wanted."""
from __future__ import annotations

import os


class _NoBar:
    """What a disabled bar needs to answer, without importing tqdm (a warm run shows no bars)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, n=1) -> None:
        return None

    def set_postfix_str(self, s="", refresh=True) -> None:
        return None

    def close(self) -> None:
        return None


def progress_bar(*, total=None, desc="", unit="it", disable=False, position=None, leave=True):
    if disable or os.environ.get("HARNESS_PROGRESS", "1") == "0":
        return _NoBar()
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit=unit, position=position, leave=leave, dynamic_ncols=True,
                mininterval=0.5)
