"""Built-in vector sources for index tasks: base vectors, queries, optional labels (methods.md §1.4).

A source is described by a small dict (`{"kind": ..., ...}`), so it lives in task params and the job
key. `open_source(spec, data_root)` reads and hashes any files (the task's `load`), and
`PendingSource.vectors(model)` materialises the arrays (the task's `evaluate`; only `beir` and
`model` sources use the model, through the shared embedding cache).

Kinds:
- `gram_schmidt` (§1.4 A): an orthonormal basis B of `intrinsic_dim` columns in R^dim from
  `qr(rng.standard_normal((dim, intrinsic_dim)))`, points = standard normal coefficients @ B.T, so
  the intrinsic dimension is exactly `intrinsic_dim`. The first n rows are the base, the next nq
  the queries; `rng = default_rng(seed)`.
- `gmm` (§1.4 B): `centers` centres ~ N(0, I_dim); a label per point uniform over centres; point =
  centre + `spread` * N(0, I). Labels are the categories for the `by_category` order.
- `beir`: a retrieval data set's corpus (documents `(title + " " + text).strip()`) as the base and
  its evaluated test queries as queries, encoded with the job's model (SciFact, NFCorpus, or a
  `path` to any BEIR folder). Same texts as the retrieval task, so the embedding cache is shared.
  Its `relevance` (qrels, document ids, query ids in row order) lets a task score nDCG.
- `word_vectors`: a `vectors.npy` (+ `vocab.txt`) folder under the data root, e.g. the
  `w2v_googlenews_wefe_subset`; `nq` rows (seeded) are held out as queries, the rest stay in file order.
- `npy`: any user `.npy` (`path`), with optional `queries` and `labels` `.npy` files; without
  queries, `nq` seeded rows are held out.
- `model`: `model.all_vectors()` of a precomputed / word-vector model adapter, `nq` held out.

Arrays are returned C-contiguous float32; anything else is converted and the conversion is noted
(`VectorSource.notes`, copied into the result). NaN/Inf rows are an error naming the row.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.data import DatasetRecord
from harness.errors import DataError, HarnessError
from harness.io import load_npy
from harness.vectors import check_matrix

KINDS = ("gram_schmidt", "gmm", "beir", "word_vectors", "npy", "model")


@dataclass
class Relevance:
    """The qrels of a retrieval source: query row i is `query_ids[i]`, base row j is `doc_ids[j]`."""
    qrels: dict[str, dict[str, int]]
    doc_ids: list[str]
    query_ids: list[str]


@dataclass
class VectorSource:
    name: str
    base: np.ndarray                      # (n, d) float32, C-contiguous; row order = the "given" order
    queries: np.ndarray                   # (nq, d) float32
    labels: np.ndarray | None = None      # (n,) category per base row, for the by_category order
    info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    relevance: Relevance | None = None    # beir sources: what nDCG is scored against


@dataclass
class PendingSource:
    """A source whose files are read and hashed; `vectors(model)` builds the arrays."""
    spec: dict
    record: DatasetRecord
    make: Callable[[Any], VectorSource]

    def vectors(self, model=None) -> VectorSource:
        return self.make(model)


# -- generators -------------------------------------------------------------------------------------
def gram_schmidt_basis(dim: int, intrinsic_dim: int, rng: np.random.Generator) -> np.ndarray:
    """(dim, intrinsic_dim) orthonormal columns: the Gram-Schmidt (QR) basis of §1.4 A."""
    if not 1 <= intrinsic_dim <= dim:
        raise HarnessError(f"gram_schmidt: need 1 <= intrinsic_dim <= dim, got intrinsic_dim={intrinsic_dim}, "
                           f"dim={dim}")
    return np.linalg.qr(rng.standard_normal((dim, intrinsic_dim)))[0]


def gram_schmidt_points(m: int, dim: int, intrinsic_dim: int, rng: np.random.Generator) -> np.ndarray:
    """m points spanning exactly `intrinsic_dim` dimensions of R^dim (float32). Draws the basis, then
    the coefficients, from `rng` in that order (the order §1.4 A's reference numbers used)."""
    basis = gram_schmidt_basis(dim, intrinsic_dim, rng)
    return np.ascontiguousarray(rng.standard_normal((m, intrinsic_dim)) @ basis.T, dtype=np.float32)


def gmm_points(m: int, centers: int, dim: int, spread: float, rng: np.random.Generator):
    """(points float32, labels int64): centres ~ N(0, I), labels uniform, point = centre + spread * N(0, I)."""
    if centers < 1 or dim < 1 or spread < 0:
        raise HarnessError(f"gmm: need centers >= 1, dim >= 1, spread >= 0 (got {centers}, {dim}, {spread})")
    c = rng.standard_normal((centers, dim))
    labels = rng.integers(0, centers, size=m)
    x = c[labels] + spread * rng.standard_normal((m, dim))
    return np.ascontiguousarray(x, dtype=np.float32), labels.astype(np.int64)


# -- checks -----------------------------------------------------------------------------------------
def as_vectors(arr, what: str, notes: list[str]) -> np.ndarray:
    """harness.vectors.check_matrix (C-contiguous float32, finite, at least one row); a conversion is noted,
    never silent."""
    a = np.asarray(arr)
    out = check_matrix(a, what, min_rows=1)
    if out is not a:
        why = ([f"dtype {a.dtype}"] if a.dtype != np.float32 else []) + \
              (["non-contiguous layout"] if not a.flags.c_contiguous else [])
        notes.append(f"{what}: converted to C-contiguous float32 ({', '.join(why)})")
    return out


def holdout(x: np.ndarray, nq: int, seed: int, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(base rows in file order, query rows, base row numbers): `nq` rows drawn by default_rng(seed)."""
    n = len(x)
    if not 1 <= nq < n:
        raise HarnessError(f"{what}: cannot hold out nq={nq} query rows from {n} vectors (need 1 <= nq < n)")
    picked = np.zeros(n, dtype=bool)
    picked[np.random.default_rng(seed).permutation(n)[:nq]] = True
    keep = np.flatnonzero(~picked)
    return np.ascontiguousarray(x[keep]), np.ascontiguousarray(x[picked]), keep


def _int(spec: dict, key: str, default=None, minimum: int = 1) -> int:
    v = spec.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise HarnessError(f"vector source {spec.get('kind')!r}: {key} must be an integer >= {minimum}, got {v!r}")
    return int(v)


# -- sources ----------------------------------------------------------------------------------------
def open_source(spec: dict, data_root: Path | None) -> PendingSource:
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
        kind = spec.get("kind") if isinstance(spec, dict) else spec
        raise HarnessError(f"unknown vector source kind {kind!r}; valid: {', '.join(KINDS)}")
    return {"gram_schmidt": _gram_schmidt, "gmm": _gmm, "beir": _beir, "word_vectors": _word_vectors,
            "npy": _npy, "model": _model}[spec["kind"]](spec, data_root)


def _gram_schmidt(spec, data_root) -> PendingSource:
    n, nq = _int(spec, "n"), _int(spec, "nq")
    dim, idim, seed = _int(spec, "dim"), _int(spec, "intrinsic_dim"), _int(spec, "seed", 0, minimum=0)
    if idim > dim:
        raise HarnessError(f"gram_schmidt: intrinsic_dim={idim} exceeds dim={dim}")

    def make(model):
        x = gram_schmidt_points(n + nq, dim, idim, np.random.default_rng(seed))
        return VectorSource(f"gram_schmidt(n={n}, dim={dim}, intrinsic_dim={idim}, seed={seed})", x[:n], x[n:],
                            info={"n": n, "nq": nq, "dim": dim, "intrinsic_dim": idim, "seed": seed})
    return PendingSource(spec, DatasetRecord(path="generated:gram_schmidt", source="generated"), make)


def _gmm(spec, data_root) -> PendingSource:
    n, nq, centers, dim = _int(spec, "n"), _int(spec, "nq"), _int(spec, "centers", 50), _int(spec, "dim", 128)
    spread, seed = float(spec.get("spread", 0.6)), _int(spec, "seed", 1, minimum=0)

    def make(model):
        x, labels = gmm_points(n + nq, centers, dim, spread, np.random.default_rng(seed))
        return VectorSource(f"gmm(n={n}, centers={centers}, dim={dim}, spread={spread}, seed={seed})", x[:n], x[n:],
                            labels=labels[:n], info={"n": n, "nq": nq, "centers": centers, "dim": dim,
                                                     "spread": spread, "seed": seed})
    return PendingSource(spec, DatasetRecord(path="generated:gmm", source="generated"), make)


def _beir(spec, data_root) -> PendingSource:
    from . import retrieval
    dataset, path = spec.get("dataset"), spec.get("path")
    factories = {"scifact": retrieval.scifact, "nfcorpus": retrieval.nfcorpus}
    if path:
        task = retrieval.from_folder(str(path))
    elif dataset in factories:
        task = factories[dataset]()
    else:
        raise HarnessError(f"beir vector source: give dataset ({', '.join(factories)}) or path, got {spec}")
    record = task.load(data_root)

    def make(model):
        if model is None:
            raise HarnessError(f"beir vector source {task.name}: needs a model to encode the corpus")
        notes: list[str] = []
        base = as_vectors(model.encode(task.doc_texts, role="document"), f"{task.name} corpus embeddings", notes)
        queries = as_vectors(model.encode(task.query_texts, role="query"), f"{task.name} query embeddings", notes)
        if base.shape[1] != queries.shape[1]:
            raise HarnessError(f"{task.name}: document dim {base.shape[1]} != query dim {queries.shape[1]}")
        name = model.meta.get("name", "model")
        return VectorSource(f"{name} on {task.name} corpus", base, queries, notes=notes,
                            relevance=Relevance(task.qrels, list(task.doc_ids), list(task.query_ids)),
                            info={"dataset": task.name, "model": name, "n": len(base), "nq": len(queries),
                                  "dim": int(base.shape[1]), "queries": f"{task.split} queries with qrels",
                                  "documents": "(title + ' ' + text).strip()"})
    return PendingSource(spec, record, make)


def _word_vectors(spec, data_root) -> PendingSource:
    folder = spec.get("folder", "w2v_googlenews_wefe_subset")
    if data_root is None and not Path(folder).is_absolute():
        raise DataError(f"word_vectors source {folder!r} needs the data root (--data-root or HARNESS_DATA)")
    root = Path(folder) if Path(folder).is_absolute() else Path(data_root) / folder
    if not root.is_dir():
        raise DataError("word-vector folder not found", root)
    record = DatasetRecord(path=str(root))
    npy = record.add(root / "vectors.npy", root)
    if (root / "vocab.txt").is_file():
        record.add(root / "vocab.txt", root)
    nq, seed = _int(spec, "nq", 1000), _int(spec, "seed", 0, minimum=0)

    def make(model):
        notes: list[str] = []
        x = as_vectors(load_npy(npy, "word vectors", mmap=True), f"{npy}", notes)
        base, queries, rows = holdout(x, nq, seed, str(npy))
        return VectorSource(f"{root.name} (nq={nq} held out, seed {seed})", base, queries, notes=notes,
                            info={"folder": root.name, "n": len(base), "nq": nq, "dim": int(x.shape[1]),
                                  "holdout_seed": seed})
    return PendingSource(spec, record, make)


def _npy(spec, data_root) -> PendingSource:
    if not spec.get("path"):
        raise HarnessError('npy vector source: give "path" (e.g. --task-params \'{"HNSWInsertionOrder": '
                           '{"source": {"kind": "npy", "path": "/data/x.npy"}}}\')')
    path = Path(spec["path"]).expanduser()
    record = DatasetRecord(path=str(path.parent))
    files = {"base": record.add(path, path.parent)}
    for key in ("queries", "labels"):
        if spec.get(key):
            p = Path(spec[key]).expanduser()
            files[key] = record.add(p, p.parent)
    nq, seed = _int(spec, "nq", 1000), _int(spec, "seed", 0, minimum=0)

    def make(model):
        notes: list[str] = []
        x = as_vectors(load_npy(files["base"], "base vectors", mmap=True), str(files["base"]), notes)
        labels = None
        if "labels" in files:
            labels = np.asarray(load_npy(files["labels"], "labels", mmap=True))
            if labels.ndim != 1 or len(labels) != len(x):
                raise DataError(f"labels must be 1-D with one label per base row ({len(x)}), got shape "
                                f"{labels.shape}", files["labels"])
        if "queries" in files:
            base, rows = x, np.arange(len(x))
            queries = as_vectors(load_npy(files["queries"], "queries", mmap=True), str(files["queries"]), notes)
            if queries.shape[1] != x.shape[1]:
                raise DataError(f"queries have dim {queries.shape[1]}, base vectors {x.shape[1]}", files["queries"])
        else:
            base, queries, rows = holdout(x, nq, seed, str(files["base"]))
            labels = labels[rows] if labels is not None else None
            notes.append(f"no queries file: {nq} base rows held out as queries (seed {seed})")
        return VectorSource(f"npy:{path.name}", base, queries, labels=labels, notes=notes,
                            info={"path": str(path), "n": len(base), "nq": len(queries), "dim": int(x.shape[1])})
    return PendingSource(spec, record, make)


def _model(spec, data_root) -> PendingSource:
    nq, seed = _int(spec, "nq", 1000), _int(spec, "seed", 0, minimum=0)

    def make(model):
        if model is None or not hasattr(model, "all_vectors"):
            raise HarnessError("model vector source: the model has no all_vectors() (use a vectors:/words: model)")
        notes: list[str] = []
        x = as_vectors(model.all_vectors(), f"{model.meta.get('name')} vectors", notes)
        base, queries, _ = holdout(x, nq, seed, str(model.meta.get("name")))
        return VectorSource(f"{model.meta.get('name')} vectors", base, queries, notes=notes,
                            info={"model": model.meta.get("name"), "n": len(base), "nq": nq, "dim": int(x.shape[1]),
                                  "holdout_seed": seed})
    return PendingSource(spec, DatasetRecord(path="model:all_vectors", source="generated"), make)
