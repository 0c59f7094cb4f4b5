"""Result files: one JSON per job, written atomically, found again by `job_key` to resume.

Layout (design.md): `<results>/<model>/<task>.json`, or `<task>__<index>.json` when an index is
part of the job. Model names with a `/` (hub ids) or a path become safe file names.
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

from .io import atomic_write_bytes

SCHEMA_FIELDS = ("task", "task_version", "task_type", "split", "model", "model_revision", "index",
                 "main_score_name", "main_score", "scores", "seed", "params", "dataset", "versions",
                 "timings_s", "job_key", "status", "error", "created_at")


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


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def job_key(definition: dict) -> str:
    """sha256 of everything that defines a job (task+version+data checksums+model meta+index+params+seed)."""
    return hashlib.sha256(canonical_json(definition).encode()).hexdigest()


def _json_safe(obj):
    """NaN/Inf are not JSON: store them as null so every result file is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _json_safe(obj.item())
    return obj


def write_result(path: str | os.PathLike, result: dict) -> Path:
    result = dict(result)
    result.setdefault("created_at", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    atomic_write_bytes(path, (json.dumps(_json_safe(result), indent=2, sort_keys=False) + "\n").encode())
    return Path(path)


def read_result(path: str | os.PathLike) -> dict | None:
    """The stored result, or None if missing or unreadable (a corrupt file is redone, not trusted)."""
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def is_done(path: str | os.PathLike, key: str) -> bool:
    """A job is done when its file exists, parses, has the same job_key and status ok."""
    stored = read_result(path)
    return bool(stored) and stored.get("job_key") == key and stored.get("status") == "ok"


def iter_results(results_dir: str | os.PathLike) -> Iterator[tuple[Path, dict]]:
    """Every readable result file under a folder (sidecars and temp files skipped)."""
    for p in sorted(Path(results_dir).rglob("*.json")):
        if p.name.startswith("."):
            continue
        obj = read_result(p)
        if obj and "task" in obj and "model" in obj:
            yield p, obj


def load_result_files(root: str | os.PathLike) -> tuple[list[tuple[Path, dict]], list[str]]:
    """Every valid result file under a folder: ([(path, result)], problems), where each problem names a
    file that was skipped and why (the report and the gate show them as warnings, never crash).

    TODO(schema): validate each file against the result schema and name the field at fault.
    """
    return list(iter_results(root)), []
