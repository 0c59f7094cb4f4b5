#!/usr/bin/env python3
"""Command line: list, run, report, gate, cache. See `python run.py <command> --help`.

Imports stay light at module level so `run.py list` and `--help` answer in about a second; the
heavy libraries load only inside the command that needs them.
"""
from __future__ import annotations

import os
import sys

# Offline by default: hub look-ups otherwise retry for ~23 s before failing. Users with network
# access opt in with HARNESS_ONLINE=1.
if os.environ.get("HARNESS_ONLINE") != "1":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("MTEB_CACHE", os.path.join(os.getcwd(), ".cache", "mteb"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from harness import cli  # noqa: E402

if __name__ == "__main__":
    try:
        sys.exit(cli.main())
    except BrokenPipeError:   # `run.py list | head`: the reader left; stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
