"""Errors a user can act on. Each names the file, line or field at fault.

`HarnessError` subclasses ValueError so library-style callers can catch it generically; the CLI
turns it into a one-line message and exit code 2 (bad usage or bad input).
"""
from __future__ import annotations

from pathlib import Path


class HarnessError(ValueError):
    """Bad usage or bad input: the message says what to fix."""


class DataError(HarnessError):
    """A data file is missing or malformed. Carries the file and (1-based) line when known."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)


class UnknownNameError(HarnessError):
    """An unknown task/model/index/suite name; lists the valid ones."""

    def __init__(self, kind: str, name: str, valid):
        import difflib
        valid = sorted(valid)
        lowered = {v.lower(): v for v in valid}
        close = [lowered[c] for c in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)]
        close += [v for low, v in lowered.items() if name and name.lower() in low and v not in close][:3]
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        super().__init__(f"unknown {kind} {name!r}{hint}; valid {kind}s: {', '.join(valid)}")


class EmbeddingError(HarnessError):
    """An adapter returned vectors with the wrong shape, dtype or non-finite values."""
