"""Files the harness writes and reads: one atomic write, one `.npy` writer and one `.npy` loader.

Every file the harness writes (results, sidecars, cache shards, derived-array caches) goes through
`atomic_write_bytes`: a temp file in the same folder, fsync, rename, so a reader never sees a
partial file and a crash leaves at most a `.<name>.*.tmp` to sweep. Every `.npy` read goes through
`load_npy`: pickles are refused and errors name the file.
"""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import DataError

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write to a temp file in the same folder, fsync, then rename: readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; shared result/cache paths need the usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def npy_bytes(arr) -> bytes:
    """The `.npy` encoding of a plain (non-object) array."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def save_npy(path: str | os.PathLike, arr) -> Path:
    """`np.save` through `atomic_write_bytes` (never a pickle)."""
    return atomic_write_bytes(path, npy_bytes(arr))


def load_npy(path: str | os.PathLike, what: str = "array", *, mmap: bool = False) -> np.ndarray:
    """A plain numeric `.npy` file (memory-mapped with `mmap=True`); pickled objects are refused and
    every failure is a `DataError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what}: file not found", path)
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as e:   # object arrays need pickle: refused
        raise DataError(f"{what}: not a plain numeric .npy file (pickled objects are refused): {e}", path) from None
    except OSError as e:
        raise DataError(f"{what}: cannot read .npy: {e}", path) from None
