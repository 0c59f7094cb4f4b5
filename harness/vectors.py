"""The one place that checks embedding matrices: shape, numeric dtype, NaN/Inf, zero rows under cosine.

Every adapter output, index input and metric input passes through `check_matrix` (and `unit_rows`
where cosine needs unit vectors), so every error reads the same and names the row at fault, and
a C-contiguous float32 input (a memmap included) is returned as is, never copied. Checks run in
blocks of rows, so a memmapped corpus is never loaded whole.

`locate(row) -> str` lets a caller name a row in its own terms (a document id and the line of the
corpus file it came from); the default names the row number.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .errors import EmbeddingError

BLOCK = 65536
Locate = Callable[[int], str]


def _where(row: int, locate: Locate | None) -> str:
    return f"row {row}" + (f" ({locate(row)})" if locate is not None else "")


def check_matrix(x, what: str, *, rows: int | None = None, dim: int | None = None, min_rows: int = 0,
                 dtype=np.float32, nonzero: bool = False, locate: Locate | None = None) -> np.ndarray:
    """A finite real (n, d) matrix as a C-contiguous array of `dtype` (None: keep a float dtype,
    integers become float64). `rows` / `dim`: the expected shape; `min_rows`: at least that many;
    `nonzero`: a zero row is an error (cosine is undefined for it). Raises `EmbeddingError`."""
    try:
        arr = np.asarray(x)
    except Exception as e:   # ragged lists and the like
        raise EmbeddingError(f"{what}: not an array ({type(e).__name__}: {e})") from None
    if arr.ndim != 2:
        raise EmbeddingError(f"{what}: expected a 2-D array (one row per vector), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr) or arr.dtype == np.bool_:
        raise EmbeddingError(f"{what}: expected real numbers, got dtype {arr.dtype}")
    if rows is not None and arr.shape[0] != rows:
        raise EmbeddingError(f"{what}: {arr.shape[0]} vectors for {rows} inputs")
    if arr.shape[0] < min_rows:
        raise EmbeddingError(f"{what}: need at least {min_rows} rows, got {arr.shape[0]}")
    if dim is not None and arr.shape[1] != dim:
        raise EmbeddingError(f"{what}: dimension {arr.shape[1]}, expected {dim}")
    if arr.shape[1] == 0 and arr.shape[0] > 0:
        raise EmbeddingError(f"{what}: rows have no columns")
    target = dtype if dtype is not None else (arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64)
    if arr.dtype != target or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr, dtype=target)
    check_finite(arr, what, locate=locate)
    if nonzero:
        check_nonzero(arr, what, locate=locate)
    return arr


def check_finite(arr: np.ndarray, what: str, *, locate: Locate | None = None) -> None:
    """NaN/Inf is an error naming the first bad row and the count."""
    if not np.issubdtype(arr.dtype, np.floating):
        return
    for s in range(0, len(arr), BLOCK):
        bad = ~np.isfinite(arr[s:s + BLOCK]).all(axis=1)
        if bad.any():
            row = s + int(np.flatnonzero(bad)[0])
            count = int(bad.sum()) + sum(int((~np.isfinite(arr[t:t + BLOCK]).all(axis=1)).sum())
                                         for t in range(s + BLOCK, len(arr), BLOCK))
            raise EmbeddingError(f"{what}: non-finite value (NaN or Inf) in {_where(row, locate)}; "
                                 f"{count} such row(s)")


def zero_rows(arr: np.ndarray) -> np.ndarray:
    """Indices of all-zero rows (block by block)."""
    found = [s + np.flatnonzero(~np.any(arr[s:s + BLOCK], axis=1)) for s in range(0, len(arr), BLOCK)]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def check_nonzero(arr: np.ndarray, what: str, *, locate: Locate | None = None) -> None:
    """Cosine is undefined for a zero vector: raise, naming the first such row and the count."""
    zero = zero_rows(arr)
    if zero.size:
        raise EmbeddingError(f"{what}: {_where(int(zero[0]), locate)} is a zero vector, so cosine similarity is "
                             f"undefined for it; {zero.size} such row(s)")


def unit_rows(x, what: str, *, locate: Locate | None = None, dtype=np.float32) -> np.ndarray:
    """L2-normalised copy in `dtype` (norms computed in that precision, as numpy, torch and faiss do for
    float32 vectors); a zero row is an error naming it."""
    arr = check_matrix(x, what, dtype=dtype, nonzero=True, locate=locate)
    out = np.empty(arr.shape, dtype=dtype)
    for s in range(0, len(arr), BLOCK):
        block = arr[s:s + BLOCK]
        out[s:s + BLOCK] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out
