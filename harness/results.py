"""Result files: one JSON per job, written atomically, found again by `job_key` to resume.

Layout (design.md): `<results>/<model>/<task>.json`, or `<task>__<index>.json` when an index is
part of the job. Model names with a `/` (hub ids) or a path become safe file names. Every file is
checked against the one schema (harness/result_schema.py) when it is written and when it is read:
an invalid file is never trusted (a job whose file is invalid is redone; readers skip it with a
message naming the file and the field).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterator

from .errors import HarnessError
from .io import atomic_write_bytes


class ResultSchemaError(HarnessError):
    """A result about to be written does not match the result schema (names the file and the fields)."""

def safe_name(name: str) -> str:
    """A file-system-safe, readable name: `org/model` -> `org__model`, paths -> their tail."""
    name = name.replace("/", "__").replace("\\", "__").replace(":", "_")
    name = re.sub(r"[^A-Za-z0-9._+=@,-]+", "_", name).strip("._") or "unnamed"
    if len(name) > 120:  # keep long path-derived names unique but bounded
        name = name[:100] + "-" + hashlib.sha256(name.encode()).hexdigest()[:12]
    return name


def result_path(results_dir: str | os.PathLike, model: str, task: str, index: str | None = None) -> Path:
    stem = safe_name(task) + (f"__{safe_name(index)}" if index else "")
    return Path(results_dir) / safe_name(model) / f"{stem}.json"


def flatten_scores(scores, prefix: str = "") -> dict[str, object]:
    """A result's scores by dotted name (nested dicts flattened; lists, which hold per-item values, left
    out): how `Task.declare`, the report and the gate all name a score."""
    out: dict[str, object] = {}
    for k, v in (scores or {}).items() if isinstance(scores, dict) else ():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_scores(v, name + "."))
        elif not isinstance(v, list):
            out[name] = v
    return out


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def job_key(definition: dict) -> str:
    """sha256 of everything that defines a job (task+version+data checksums+model meta+index+params+seed)."""
    return hashlib.sha256(canonical_json(definition).encode()).hexdigest()


def json_safe(obj):
    """NaN/Inf are not JSON: store them as null so every result file is strict JSON (numpy values become
    Python ones, paths their text)."""
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy scalars and arrays
        return json_safe(obj.tolist())
    return obj


def schema_problems(obj) -> list[str]:
    """What makes a parsed result file invalid, one message per field ([] when valid)."""
    from .result_schema import problems   # pydantic loads only when a result is checked
    return problems(obj)


def write_result(path: str | os.PathLike, result: dict) -> Path:
    result = json_safe(result)
    result.setdefault("created_at", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    bad = schema_problems(result)
    if bad:
        raise ResultSchemaError(f"{path}: result does not match the schema: {'; '.join(bad)}")
    atomic_write_bytes(path, (json.dumps(result, indent=2, sort_keys=False) + "\n").encode())
    return Path(path)


def _parse(path: Path) -> tuple[dict | None, str | None]:
    """(result, None) for a valid file, else (None, why it is not)."""
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except FileNotFoundError:
        return None, "file not found"
    except json.JSONDecodeError as e:
        return None, f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
    except (UnicodeDecodeError, OSError) as e:
        return None, f"unreadable ({e})"
    bad = schema_problems(obj)
    return (None, "; ".join(bad)) if bad else (obj, None)


def read_result(path: str | os.PathLike) -> dict | None:
    """The stored result, or None if missing, unreadable or invalid (such a file is redone, not trusted)."""
    return _parse(Path(path))[0]


def done_result(path: str | os.PathLike, key: str) -> dict | None:
    """The stored result if its job is done: the file exists, is a valid result, has the same job_key
    and status ok; else None."""
    stored = read_result(path)
    return stored if stored and stored.get("job_key") == key and stored.get("status") == "ok" else None


def is_done(path: str | os.PathLike, key: str) -> bool:
    return done_result(path, key) is not None


def _result_files(root: Path) -> list[Path]:
    """Result files under a folder (hidden temp files skipped), or the file itself."""
    if root.is_file():
        return [root]
    return [p for p in sorted(root.rglob("*.json")) if not p.name.startswith(".")]


def iter_results(results_dir: str | os.PathLike) -> Iterator[tuple[Path, dict]]:
    """Every valid result file under a folder; invalid ones are left out (see `load_result_files`)."""
    yield from load_result_files(results_dir)[0]


def load_result_files(root: str | os.PathLike) -> tuple[list[tuple[Path, dict]], list[str]]:
    """Every valid result file under a folder: ([(path, result)], problems), where each problem names a
    file that was skipped and the field at fault, e.g. "results/m/STS.json: field 'main_score': not a
    number (got '0.5')" (the report and the gate show them as warnings, never crash)."""
    valid, problems = [], []
    for p in _result_files(Path(root)):
        obj, why = _parse(p)
        if obj is not None:
            valid.append((p, obj))
        else:
            problems.append(f"{p}: {why}")
    return valid, problems
