#!/usr/bin/env python3
"""Command line: list, run, report, gate, cache. See `python run.py <command> --help`.

The same program as the `embedding-harness` console script (harness/cli.py `entry`), for a
checkout without an install. Imports stay light so `list` and `--help` answer in about a second.
"""
from harness.cli import entry

if __name__ == "__main__":
    entry()
