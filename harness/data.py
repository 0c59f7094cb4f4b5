"""Data-root resolution, checked file loading and checksums.

Everything that reads a dataset file goes through here so that (a) every error names the file
and line, and (b) every file read is hashed into the result (`DatasetRecord`).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from .errors import DataError, HarnessError

# The checkout's sibling `shared/data` (CI and developer machines have it; a fresh user clone may not).
_SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def resolve_data_root(cli_value: str | os.PathLike | None = None) -> Path | None:
    """First that applies: --data-root, $HARNESS_DATA, ../shared/data beside the checkout, else None.

    None means "use the real public loaders" (Hugging Face datasets / BEIR URLs).
    An explicitly given root that does not exist is an error, never a silent fallback.
    """
    for source, value in (("--data-root", cli_value), ("HARNESS_DATA", os.environ.get("HARNESS_DATA"))):
        if value:
            root = Path(value).expanduser()
            if not root.is_dir():
                raise DataError(f"data root given by {source} does not exist or is not a folder", root)
            return root.resolve()
    return _SHARED_DATA if _SHARED_DATA.is_dir() else None


_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 of a file, memoised on (path, size, mtime) so repeated job planning stays cheap."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


@dataclass
class DatasetRecord:
    """Where a task's data came from: a folder (or hub id) and the sha256 of every file read."""

    path: str
    sha256: dict[str, str] = field(default_factory=dict)
    source: str = "local"  # "local" | "hub" | "generated"

    def add(self, file: Path, root: Path | None = None) -> Path:
        file = Path(file)
        if not file.is_file():
            raise DataError("file not found", file)
        name = str(file.relative_to(root)) if root is not None else file.name
        self.sha256[name] = sha256_file(file)
        return file

    def as_dict(self) -> dict:
        return {"path": self.path, "source": self.source, "sha256": dict(sorted(self.sha256.items()))}


def require_dir(path: Path, what: str) -> Path:
    if not Path(path).is_dir():
        raise DataError(f"{what} folder not found", path)
    return Path(path)


def task_folder(data_root: Path | None, task: str, subdir: str, needs: str, what: str | None = None) -> Path:
    """`data_root/subdir` of a task that reads local files only; errors say what it needs and where."""
    if data_root is None:
        raise HarnessError(f"task {task} needs a data root with {needs} (--data-root or HARNESS_DATA)")
    return require_dir(Path(data_root) / subdir, what or f"{task} data")


def read_jsonl(path: str | os.PathLike, required: Iterable[str] = ()) -> Iterator[tuple[int, dict]]:
    """Yield (line_number, object) for each non-blank line; errors name file and line."""
    required = tuple(required)
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"bad JSON ({e.msg} at column {e.colno})", path, lineno) from None
            if not isinstance(obj, dict):
                raise DataError(f"expected a JSON object, got {type(obj).__name__}", path, lineno)
            for key in required:
                if key not in obj or obj[key] is None:
                    raise DataError(f"missing field {key!r}", path, lineno)
            yield lineno, obj


def as_float(value, path, lineno: int, field_name: str) -> float:
    """Parse a numeric field; non-numeric or non-finite values are errors naming the field."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise DataError(f"field {field_name!r} is not a number: {value!r}", path, lineno) from None
    if not math.isfinite(x):
        raise DataError(f"field {field_name!r} is not finite: {value!r}", path, lineno)
    return x


def read_tsv_rows(path: str | os.PathLike, *, comment: str = "#", min_cols: int = 1) -> Iterator[tuple[int, list[str]]]:
    """Yield (line_number, columns) of a tab-separated file; CRLF-tolerant, skips comments/blank lines."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    with open(path, encoding="utf-8", newline="") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or (comment and line.startswith(comment)):
                continue
            cols = line.split("\t")
            if len(cols) < min_cols:
                raise DataError(f"expected at least {min_cols} tab-separated columns, got {len(cols)}", path, lineno)
            yield lineno, cols


def require_rows(rows: list, path, what: str = "rows") -> list:
    if not rows:
        raise DataError(f"no {what} (empty split)", path)
    return rows


def hub_available() -> bool:
    """False when the user told the libraries to stay offline."""
    return not (os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1")


def no_data_root_error(task: str, folder: str) -> HarnessError:
    return HarnessError(
        f"task {task}: no data root (pass --data-root, set HARNESS_DATA, or place shared/data beside the "
        f"checkout with a {folder!r} folder) and the hub is disabled (HF_HUB_OFFLINE=1)")
