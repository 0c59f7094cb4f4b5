"""Progress bars on stderr (tqdm), silenced with HARNESS_PROGRESS=0 or when not wanted."""
from __future__ import annotations

import os


def progress_bar(*, total=None, desc="", unit="it", disable=False, position=None, leave=True):
    from tqdm.auto import tqdm
    disable = disable or os.environ.get("HARNESS_PROGRESS", "1") == "0"
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, position=position, leave=leave,
                dynamic_ncols=True, mininterval=0.5)
