"""Derived embeddings: Matryoshka truncation and quantisation of float32 vectors (issue 17).

Pure numpy; one definition used by the compressed model wrapper (adapters/models/compressed.py), the
compressed indexes (adapters/indexes/compressed.py) and the compression sweep (tasks/compression.py).

- `truncate(x, dim, normalize)`: the first `dim` coordinates, re-normalised to unit rows when the model
  normalises; `dim` None or equal to the full dimension is the identity (the same array values).
- `quantize(x, precision, ranges)`: the codes of sentence-transformers' `quantize_embeddings`, bit for bit
  (float32 arithmetic, floor, clip to 0..255; int8 = uint8 - 128; binary = packed sign bits - 128; ubinary =
  packed sign bits). float16 is a cast. `ranges` (2, d) are per-dimension min / max of a calibration set
  (`calibration_ranges`: under 1,000 vectors an error, under 10,000 a warning, as mteb's wrapper warns).
- `decode(codes, precision, dim)`: the float32 vectors a task scores on: float16 values, int8 / uint8 code
  values (so a dot product is the integer dot product), binary / ubinary bits as +1 / -1 (a dot product is
  dim - 2 * Hamming distance).
- `dequantize(codes, precision, ranges)`: codes back to the float coordinate system (float64), as
  sentence-transformers' rescoring does.
"""
from __future__ import annotations

import re
import warnings

import numpy as np

from .errors import HarnessError

PRECISIONS = ("float32", "float16", "int8", "uint8", "binary", "ubinary")
SCALAR = ("int8", "uint8")
BITS = ("binary", "ubinary")
MIN_CALIBRATION = 1_000      # fewer: error
WARN_CALIBRATION = 10_000    # fewer: CompressionWarning (mteb's compression wrapper warns there too)


class CompressionWarning(UserWarning):
    """A derived-embedding setting that works but is weak (a small calibration set)."""


def check_precision(precision: str, what: str = "precision") -> str:
    if precision not in PRECISIONS:
        raise HarnessError(f"unknown {what} {precision!r}; valid: {', '.join(PRECISIONS)}")
    return precision


def check_dim(dim, full: int, what: str = "dim") -> int:
    """The truncation dimension d': None / "full" -> the model's dimension; 1 <= d' <= full."""
    if dim is None or dim == "full":
        return int(full)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise HarnessError(f"{what}={dim!r} must be an integer or 'full' (the model's dimension {full})")
    if dim < 1:
        raise HarnessError(f"{what}={dim} is below 1; valid: 1..{full} or 'full'")
    if dim > full:
        raise HarnessError(f"{what}={dim} is larger than the model's dimension {full}; valid: 1..{full} or 'full'")
    return int(dim)


def truncate(x: np.ndarray, dim, normalize: bool) -> np.ndarray:
    """First `dim` coordinates (float32, C-contiguous); unit rows again when `normalize` and d' < full.
    At the full dimension nothing changes (the identity: the caller's vectors, values untouched)."""
    x = np.asarray(x)
    d = check_dim(dim, x.shape[1])
    if d == x.shape[1]:
        return np.ascontiguousarray(x, dtype=np.float32)
    out = np.ascontiguousarray(x[:, :d], dtype=np.float32)
    if normalize:
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        if (norms == 0).any():
            row = int(np.flatnonzero(norms[:, 0] == 0)[0])
            raise HarnessError(f"row {row} is all zeros in its first {d} dimensions: cannot re-normalise")
        out /= norms
    return out


def calibration_ranges(calibration: np.ndarray, what: str = "calibration set") -> np.ndarray:
    """(2, d) float32 per-dimension min and max of the calibration vectors (sentence-transformers' ranges)."""
    calibration = np.asarray(calibration, dtype=np.float32)
    n = len(calibration)
    if n < MIN_CALIBRATION:
        raise HarnessError(f"{what} has {n} vectors; int8 / uint8 calibration needs at least {MIN_CALIBRATION:,}")
    if n < WARN_CALIBRATION:
        warnings.warn(CompressionWarning(f"{what} has {n} vectors (< {WARN_CALIBRATION:,}): int8 ranges from a "
                                         "small set are less stable"), stacklevel=2)
    return np.vstack((np.min(calibration, axis=0), np.max(calibration, axis=0)))


def _steps(ranges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ranges = np.asarray(ranges).astype(np.float32, copy=False)
    steps = (ranges[1, :] - ranges[0, :]) / 255
    return ranges[0, :], np.where(steps == 0, 1, steps)


def quantize(x: np.ndarray, precision: str, ranges: np.ndarray | None = None) -> np.ndarray:
    """Codes of `x` (float32 rows) at `precision`, identical to sentence-transformers' quantize_embeddings."""
    check_precision(precision)
    x = np.asarray(x, dtype=np.float32)
    if precision == "float32":
        return x
    if precision == "float16":
        return x.astype(np.float16)
    if precision in SCALAR:
        if ranges is None:
            raise HarnessError(f"{precision} quantisation needs calibration ranges (calibration_ranges(...))")
        if np.shape(ranges) != (2, x.shape[1]):
            raise HarnessError(f"ranges have shape {np.shape(ranges)}; expected (2, {x.shape[1]})")
        starts, steps = _steps(ranges)
        q = np.clip(np.floor((x - starts) / steps), 0, 255)
        return q.astype(np.uint8) if precision == "uint8" else (q - 128).astype(np.int8)
    bits = np.packbits(x > 0, axis=-1)
    return bits if precision == "ubinary" else (bits - 128).astype(np.int8)


def to_ubinary(codes: np.ndarray, precision: str) -> np.ndarray:
    """binary (int8, offset by -128) or ubinary codes -> the packed uint8 bits."""
    return codes if precision == "ubinary" else (codes.astype(np.int16) + 128).astype(np.uint8)


def decode(codes: np.ndarray, precision: str, dim: int) -> np.ndarray:
    """The float32 vectors that similarity is computed on (see the module docstring)."""
    check_precision(precision)
    if precision in BITS:
        bits = np.unpackbits(to_ubinary(codes, precision), axis=-1)[:, :dim]
        return bits.astype(np.float32) * 2 - 1
    return np.ascontiguousarray(codes, dtype=np.float32)


def dequantize(codes: np.ndarray, precision: str, ranges: np.ndarray) -> np.ndarray:
    """int8 / uint8 codes -> float64 coordinates (sentence-transformers' `_dequantize_embeddings`)."""
    starts, steps = _steps(ranges)
    out = codes.astype(np.float64)
    if precision == "int8":
        out += 128
    return out * steps + starts


def bytes_per_vector(dim: int, precision: str) -> int:
    check_precision(precision)
    if precision in BITS:
        return (int(dim) + 7) // 8
    return int(dim) * {"float32": 4, "float16": 2, "int8": 1, "uint8": 1}[precision]


_SPEC = re.compile(r"^[A-Za-z0-9_]+(=[^,]*)?$")


def parse_spec(spec: str) -> dict:
    """`dim=128+int8` (or `dim=128,int8`) / `int8+dim=64` / `dim=full` / `binary` -> {"dim": 128 | None,
    "precision": ...}; "+" separates parts in the CLI, where model lists are comma-separated.
    An unknown key or precision is an error listing the valid ones."""
    out: dict = {"dim": None, "precision": "float32"}
    for part in split_spec(spec):
        if not _SPEC.match(part):
            raise HarnessError(f"compression spec {spec!r}: cannot read {part!r} (e.g. 'dim=128+int8')")
        key, sep, value = part.partition("=")
        if not sep:
            out["precision"] = check_precision(key, "precision in compression spec")
        elif key == "dim":
            out["dim"] = None if value == "full" else _int(value, spec)
        else:
            raise HarnessError(f"compression spec {spec!r}: unknown key {key!r}; valid: dim=<int|full>, "
                               f"a precision ({', '.join(PRECISIONS)})")
    return out


def split_spec(spec: str) -> list[str]:
    """The parts of a spec: separated by "+" (safe in the CLI's comma-separated model lists) or ","."""
    return [p.strip() for p in re.split(r"[+,]", spec) if p.strip()]


def _int(value: str, spec: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise HarnessError(f"compression spec {spec!r}: dim={value!r} is not an integer or 'full'") from None
