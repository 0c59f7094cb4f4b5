"""Helpers shared by the bench scripts: timing a command as a whole process, peak RSS."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
ENV = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
           HARNESS_PROGRESS="0", PYTHONPATH=str(REPO))


def timed(cmd: list[str], **kw) -> tuple[float, int, str]:
    """(wall seconds, peak RSS of the child in MB, stdout) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, **kw)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"command failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) // 1024, out.stdout
