"""`mteb-model:<name>`: a model from mteb's model registry, loaded by `mteb.get_model`, with MTEB's prompts.

The meta is fixed when the adapter is built, from mteb's ModelMeta alone (no download, no weights): name,
revision (the commit mteb pins), dim, similarity, max tokens, and under `prompts` everything mteb hands
the model's loader (its prompts, instruction template, dtype), so the cache key changes whenever they do.
The weights load on the first encode that needs them.

Roles map to mteb's prompt types (query -> query, document -> document, None -> none), so an instruction
model gets the prompts MTEB gives it. Inside an mteb task (`mteb:` or `as_mteb_encoder`) the model also
sees the task itself: `mteb_role` names the task in the role of models whose vectors may depend on it
(task instructions), so each task's vectors are cached apart. Our own tasks have no mteb task; they get
a neutral one (no task name, no task type), i.e. the prompt-type prompts only.

Offline, a model mteb must download is an error that says so (HARNESS_ONLINE=1 allows the download).
"""
from __future__ import annotations

import functools

import numpy as np

from harness.data import hub_available
from harness.errors import HarnessError
from harness.results import safe_name

from .base import make_meta

# loaders whose vectors depend on the prompt type alone (given only query/document prompts); any other
# loader may read the task (instructions, task-type input types), so its vectors are cached per task
PLAIN_LOADERS = {"mteb.models.sentence_transformer_wrapper.SentenceTransformerEncoderWrapper",
                 "mteb.models.sentence_transformer_wrapper.sentence_transformers_loader"}


class MtebModel:
    def __init__(self, name: str, *, revision: str | None = None, device: str = "cpu", batch_size: int = 32):
        self.name, self.device, self.batch_size = name, device, batch_size
        self.mteb_meta = _model_meta(name, revision)
        mm, kwargs = self.mteb_meta, dict(self.mteb_meta.loader_kwargs or {})
        if "dense" not in (mm.model_type or ["dense"]) or "text" not in (mm.modalities or ["text"]):
            raise HarnessError(f"mteb-model:{name} is a {'/'.join(mm.model_type)} model for "
                               f"{'/'.join(mm.modalities)}; the harness takes dense text embedding models")
        loader = _callable_name(mm.loader)
        # vectors depend on the task unless a plain sentence-transformers model has only query/document prompts
        self.task_specific = not (loader in PLAIN_LOADERS and not kwargs.get("instruction_template")
                                  and set(kwargs.get("model_prompts") or {}) <= {"query", "document"})
        dim = mm.embed_dim if isinstance(mm.embed_dim, int) else None
        similarity = mm.similarity_fn_name.value if mm.similarity_fn_name is not None else "cosine"
        prompts = {"loader": loader, "loader_kwargs": _jsonable(kwargs), "use_instructions": mm.use_instructions,
                   "task_specific": self.task_specific}
        self.meta = make_meta(mm.name, revision=mm.revision or "unpinned", dim=dim, similarity=similarity,
                              normalized=None, max_seq_len=None if mm.max_tokens is None else int(mm.max_tokens),
                              prompts=prompts, kind="mteb", device=device)
        self._model = None
        self._contexts: dict[str, tuple] = {}

    # -- task context (called by the mteb encoder wrapper, adapters/models/mteb_encoder.py) ------------
    def mteb_role(self, task_metadata, prompt_type, hf_split: str, hf_subset: str) -> str | None:
        """The role this (task, prompt type) is encoded and cached under; remembered for `encode`."""
        plain = None if prompt_type is None else prompt_type.value
        if not self.task_specific:
            return plain
        role = safe_name(f"{plain or 'none'}@{task_metadata.name}"
                         + (f"@{hf_subset}" if hf_subset and hf_subset != "default" else ""))
        known = self._contexts.get(role)
        if known and (known[0].name, known[2], known[3]) != (task_metadata.name, hf_subset, prompt_type):
            raise HarnessError(f"mteb-model:{self.name}: tasks {known[0].name!r} ({known[2]}) and "
                               f"{task_metadata.name!r} ({hf_subset}) would share the cache role {role!r}")
        self._contexts[role] = (task_metadata, hf_split, hf_subset, prompt_type)
        return role

    def _context(self, role: str | None) -> tuple:
        from mteb.types import PromptType
        if role in self._contexts:
            return self._contexts[role]
        if role in (None, "query", "document"):
            return neutral_task_metadata(), "test", "default", None if role is None else PromptType(role)
        raise HarnessError(f"mteb-model:{self.name}: unknown role {role!r}; valid: query, document, None (or a "
                           "role given by mteb_role inside an mteb task)")

    # -- the adapter protocol ------------------------------------------------------------------------------
    def load(self):
        if self._model is None:
            import mteb
            try:
                self._model = mteb.get_model(self.mteb_meta.name, revision=self.mteb_meta.revision, device=self.device)
            except Exception as e:   # hub / download / missing package: one line naming the model
                raise _load_error(self.name, e) from None
        return self._model

    def encode(self, texts, *, role: str | None = None, batch_size: int | None = None) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.meta["dim"] or 0), dtype=np.float32)
        from datasets import Dataset
        from torch.utils.data import DataLoader
        task_metadata, split, subset, prompt_type = self._context(role)
        step = batch_size or self.batch_size
        batches = DataLoader(Dataset.from_dict({"text": texts}), batch_size=step)
        out = self.load().encode(batches, task_metadata=task_metadata, hf_split=split, hf_subset=subset,
                                 prompt_type=prompt_type, batch_size=step, show_progress_bar=False)
        if hasattr(out, "detach"):   # a torch tensor
            out = out.detach().cpu().float().numpy()
        return np.asarray(out, dtype=np.float32)


def _model_meta(name: str, revision: str | None):
    """mteb's ModelMeta: from its registry (offline), else read from the hub (online only)."""
    import mteb
    try:
        return mteb.get_model_meta(name, revision)
    except ValueError as e:   # a revision other than the one mteb pins
        raise HarnessError(f"mteb-model:{name}: {e}") from None
    except KeyError as e:
        if not hub_available():
            hint = str(e.args[0] if e.args else e)
            raise HarnessError(f"mteb-model:{name}: {hint} Outside its registry mteb reads a model's meta from "
                               "the Hugging Face hub, which is off (set HARNESS_ONLINE=1), or use st:<path> for a "
                               "local sentence-transformers folder") from None
    try:
        return mteb.get_model_meta(name, revision, fetch_from_hf=True)
    except Exception as e:
        raise HarnessError(f"mteb-model:{name}: mteb found no such model ({type(e).__name__}: {e})") from None


def _load_error(name: str, e: Exception) -> HarnessError:
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    why = f"{type(e).__name__}: {first}"[:300]
    if not hub_available():
        return HarnessError(f"mteb-model:{name}: mteb.get_model could not load it ({why}); the hub is off (run.py "
                            "stays offline unless HARNESS_ONLINE=1): run once with HARNESS_ONLINE=1 to download the "
                            "weights into the Hugging Face cache (later runs load them offline)")
    return HarnessError(f"mteb-model:{name}: mteb.get_model could not load it ({why})")


@functools.lru_cache(maxsize=1)
def neutral_task_metadata():
    """A task metadata with no name or type a prompt could be keyed on: only prompt-type prompts apply."""
    from mteb.abstasks.task_metadata import TaskMetadata
    md = TaskMetadata(name="HarnessTask", type="STS", main_score="cosine_spearman", description="harness task",
                      reference=None, dataset={"path": "harness/none", "revision": "none"}, category="t2t",
                      eval_splits=["test"], eval_langs=["eng-Latn"], date=None, domains=[], task_subtypes=[],
                      license=None, annotations_creators=None, dialect=[], modalities=["text"],
                      sample_creation=None, bibtex_citation="")
    return md.model_copy(update={"name": "", "type": None})


def _callable_name(fn) -> str:
    fn = getattr(fn, "func", fn)   # functools.partial
    if fn is None:
        return "none"
    return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', getattr(fn, '__name__', type(fn).__name__))}"


def _jsonable(value):
    """A stable, JSON-able copy (callables by qualified name, never their memory address)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple, set)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set) else items
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(value):
        return _callable_name(value)
    return str(getattr(value, "value", value))


def from_name(spec: str) -> MtebModel:
    """`mteb-model:<name>[@revision]`, e.g. mteb-model:intfloat/e5-small-v2."""
    name, _, revision = spec.partition("@")
    return MtebModel(name, revision=revision or None)
