"""Derived embeddings as a model: `compressed:<model>@dim=128+int8+calibration=/path/vectors.npy` (issue 17;
parts separated by "+", or "," outside the CLI's comma-separated model lists).

`CompressedModel(base, dim=, precision=, ranges=)` wraps any model (normally a `CachedModel`, so the float32
vectors come from the embedding cache and are never re-encoded) and returns, for each text, the float32
vectors its compressed code stands for (`harness.quantize.decode`): the first d' coordinates (re-normalised
when the base model normalises), then float16 values, int8 / uint8 code values (a dot product of two of
them is the integer dot product) or binary sign bits as +1 / -1. int8 / uint8 need per-dimension ranges
from a calibration set: given as `ranges`, or in the name form as `calibration=<.npy of float32 vectors of
the full dimension>` (truncated to d' like the vectors). The choice is in `meta`: the name carries the spec
and the revision a digest of dim, precision and ranges, so the job key and the embedding-cache key differ
per setting; `meta["compression"]` records it.
"""
from __future__ import annotations

import hashlib

import numpy as np

from harness import quantize as qz
from harness.errors import HarnessError


class CompressedModel:
    def __init__(self, base, *, dim=None, precision: str = "float32", ranges=None, calibration: str | None = None,
                 spec: str | None = None):
        self.base = base
        meta = dict(base.meta)
        full = meta.get("dim")
        if not full:
            raise HarnessError(f"model {meta.get('name')!r} does not declare its dimension; cannot truncate")
        self.precision = qz.check_precision(precision)
        self.dim = qz.check_dim(dim, int(full))
        self.normalize = bool(meta.get("normalized")) or str(meta.get("similarity", "")).lower() in ("cosine", "cos")
        if precision in qz.SCALAR:
            if ranges is None:
                raise HarnessError(f"precision {precision} needs calibration ranges: give `ranges`, or in the name "
                                   f"form `+calibration=<.npy of float32 vectors>`")
            ranges = np.asarray(ranges, dtype=np.float32)
            if ranges.shape != (2, self.dim):
                raise HarnessError(f"ranges have shape {ranges.shape}; expected (2, {self.dim})")
        self.ranges = ranges
        spec = spec or f"dim={self.dim if self.dim != full else 'full'}+{precision}"
        digest = hashlib.sha256(f"{self.dim}|{precision}".encode()
                                + (ranges.tobytes() if ranges is not None else b"")).hexdigest()[:16]
        self.meta = {**meta, "name": f"{meta.get('name')}@{spec}", "dim": self.dim,
                     "revision": f"{meta.get('revision')}+compressed:{digest}",
                     "compression": {"dim": self.dim, "full_dim": int(full), "precision": precision,
                                     "calibration": calibration, "ranges_sha256": digest if ranges is not None
                                     else None, "bytes_per_vector": qz.bytes_per_vector(self.dim, precision)}}

    def codes(self, texts, *, role=None, batch_size=None) -> np.ndarray:
        """The compressed codes of the texts (int8 / uint8 / packed bits / float16 / float32)."""
        kwargs = {"role": role, **({"batch_size": batch_size} if batch_size else {})}
        x = qz.truncate(self.base.encode(list(texts), **kwargs), self.dim, self.normalize)
        return qz.quantize(x, self.precision, self.ranges)

    def encode(self, texts, *, role=None, batch_size=None) -> np.ndarray:
        return qz.decode(self.codes(texts, role=role, batch_size=batch_size), self.precision, self.dim)


def ranges_for(base, dim, vectors: np.ndarray, what: str) -> np.ndarray:
    """Calibration ranges of float32 `vectors` (full dimension) truncated as `CompressedModel` truncates."""
    meta = base.meta
    normalize = bool(meta.get("normalized")) or str(meta.get("similarity", "")).lower() in ("cosine", "cos")
    return qz.calibration_ranges(qz.truncate(vectors, dim, normalize), what)


def from_spec(rest: str, *, data_root=None) -> CompressedModel:
    """Registry prefix `compressed:`: `<model name>@<spec>`; spec parts (joined by "+") dim=<int|full>, a
    precision, and calibration=<path to an .npy of float32 vectors> (int8 / uint8). The base model's vectors are read
    through the default embedding cache."""
    from harness.cache import EmbeddingCache
    from harness.embedding import CachedModel
    from harness.io import load_npy
    from harness.registry import make_model

    name, sep, spec = rest.rpartition("@")
    if not sep or not name:
        raise HarnessError(f"compressed:{rest!r}: expected compressed:<model>@<spec>, e.g. "
                           "compressed:all-MiniLM-L6-v2@dim=128+binary")
    parts = qz.split_spec(spec)
    calib = next((p.partition("=")[2] for p in parts if p.startswith("calibration=")), None)
    parsed = qz.parse_spec("+".join(p for p in parts if not p.startswith("calibration=")))
    base = CachedModel(make_model(name, data_root=data_root), EmbeddingCache(), progress=False)
    ranges = None
    if calib:
        ranges = ranges_for(base, parsed["dim"], load_npy(calib, "calibration vectors"), f"calibration {calib}")
    return CompressedModel(base, dim=parsed["dim"], precision=parsed["precision"], ranges=ranges,
                           calibration=calib, spec=spec)
