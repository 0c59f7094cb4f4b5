"""STS (semantic textual similarity), MTEB's protocol (methods.md §5.1).

Gold scores are rescaled to [0, 1] with the task's min/max (no effect on correlations); predictions
are cosine similarity, negative Manhattan and negative Euclidean distance of the pair embeddings,
plus the model's own similarity; Pearson and Spearman of each. Main score `cosine_spearman`.

Data: `<root>/<folder>/test.jsonl` rows `{sentence1, sentence2, score}`; without a data root, the
mteb dataset on the Hugging Face hub at the revision MTEB pins.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.data import (DatasetRecord, as_float, hub_available, no_data_root_error, read_jsonl,
                          require_dir, require_rows)
from harness.errors import DataError
from harness.vectors import check_matrix, check_nonzero

from .base import Task, TaskOutput


class STSTask(Task):
    type = "sts"
    main_score = "cosine_spearman"
    title = "STS"
    ranked = True
    version = 1
    # per pair: the gold score (rescaled to [0, 1]) and each prediction; the correlations recomputed from them
    item_scores = {**{f"{kind}_{stat}": {"statistic": stat, "columns": ["gold", kind]}
                      for kind in ("cosine", "manhattan", "euclidean") for stat in ("pearson", "spearman")},
                   "pearson": {"statistic": "pearson", "columns": ["gold", "cosine"]},
                   "spearman": {"statistic": "spearman", "columns": ["gold", "cosine"]}}

    def __init__(self, name: str, folder: str, hub_id: str, hub_revision: str, min_score: float = 0.0,
                 max_score: float = 5.0, **params):
        self.name = name  # instance attribute: one class serves every STS data set
        self.folder, self.hub_id, self.hub_revision = folder, hub_id, hub_revision
        self.min_score, self.max_score = min_score, max_score
        super().__init__(**params)
        self.pairs: tuple[list[str], list[str], np.ndarray] | None = None

    def default_params(self):
        return {"batch_size": None}

    def load(self, data_root: Path | None) -> DatasetRecord:
        if data_root is None:
            if not hub_available():
                raise no_data_root_error(self.name, self.folder)
            return self.load_hub(self.hub_id, revision=self.hub_revision)
        folder = require_dir(Path(data_root) / self.folder, f"{self.name} data")
        rec = DatasetRecord(path=str(folder))
        path = rec.add(folder / f"{self.split}.jsonl", folder)
        s1, s2, gold = [], [], []
        for lineno, row in read_jsonl(path, required=("sentence1", "sentence2", "score")):
            for key in ("sentence1", "sentence2"):
                if not isinstance(row[key], str):
                    raise DataError(f"field {key!r} is not a string", path, lineno)
            s1.append(row["sentence1"])
            s2.append(row["sentence2"])
            gold.append(as_float(row["score"], path, lineno, "score"))
        require_rows(gold, path, "sentence pairs")
        self.pairs = (s1, s2, np.asarray(gold, dtype=np.float64))
        self.dataset = rec
        return rec

    def load_hub(self, hub_id: str, revision: str | None = None) -> DatasetRecord:
        """The real loader: `datasets.load_dataset(hub_id, revision=...)` (a local dataset folder works too)."""
        import datasets
        ds = datasets.load_dataset(hub_id, revision=revision, split=self.split)
        missing = [c for c in ("sentence1", "sentence2", "score") if c not in ds.column_names]
        if missing:
            raise DataError(f"dataset has no column(s) {missing}; columns: {ds.column_names}", hub_id)
        gold = [as_float(v, hub_id, i + 1, "score") for i, v in enumerate(ds["score"])]
        require_rows(gold, hub_id, "sentence pairs")
        self.pairs = (list(ds["sentence1"]), list(ds["sentence2"]), np.asarray(gold, dtype=np.float64))
        fingerprint = getattr(ds, "_fingerprint", None) or "unknown"
        self.dataset = DatasetRecord(path=hub_id, sha256={"fingerprint": fingerprint,
                                                          "revision": revision or "main"}, source="hub")
        return self.dataset

    def texts_to_encode(self) -> list[tuple[None, list[str]]]:
        """What `evaluate` encodes, for sharded encoding ahead of the job (harness/sharding.py)."""
        s1, s2, _ = self.pairs
        return [(None, s1 + s2)]

    def evaluate(self, model, index=None) -> TaskOutput:
        s1, s2, gold = self.pairs
        emb = check_matrix(model.encode(s1 + s2, role=None, batch_size=self.params["batch_size"]),
                           f"model {model.meta.get('name')!r} vectors", rows=2 * len(s1), dtype=None)
        e1, e2 = emb[: len(s1)], emb[len(s1):]
        gold01 = (gold - self.min_score) / (self.max_score - self.min_score)
        preds = sts_predictions(e1, e2)
        scores = sts_scores(e1, e2, gold01, preds)
        items = self.items_matrix(scores, {"gold": gold01, **preds})
        return TaskOutput(scores=scores, details={"n_pairs": len(s1)}, sidecars={"items": items})


def sts_scores(e1: np.ndarray, e2: np.ndarray, gold: np.ndarray, preds: dict | None = None) -> dict:
    """Pearson/Spearman of cosine, -Manhattan, -Euclidean (and model similarity = cosine), as mteb."""
    from .metrics.correlation import pearson, spearman
    preds = sts_predictions(e1, e2) if preds is None else preds
    out = {}
    for kind, p in preds.items():
        out[f"{kind}_pearson"] = pearson(gold, p)
        out[f"{kind}_spearman"] = spearman(gold, p)
    out["pearson"], out["spearman"] = out["cosine_pearson"], out["cosine_spearman"]
    return out


def sts_predictions(e1: np.ndarray, e2: np.ndarray) -> dict[str, np.ndarray]:
    """Each pair's cosine similarity, negative Manhattan and negative Euclidean distance, as mteb's sklearn
    paired distances compute them (numpy here: the warm path imports neither sklearn nor scipy.stats)."""
    check_nonzero(e1, "STS sentence1 vectors (row = pair)")
    check_nonzero(e2, "STS sentence2 vectors (row = pair)")
    def sq_norms(x):   # sklearn's row_norms(x, squared=True): einsum, same summation order, same bits
        return np.einsum("ij,ij->i", x, x)

    u1, u2 = e1 / np.sqrt(sq_norms(e1))[:, None], e2 / np.sqrt(sq_norms(e2))[:, None]   # sklearn normalize
    return {"cosine": 1 - 0.5 * sq_norms(u1 - u2),      # 1 - sklearn paired_cosine_distances
            "manhattan": -np.abs(e1 - e2).sum(axis=-1),
            "euclidean": -np.sqrt(sq_norms(e1 - e2))}


# Registry factories (MTEB names, hub ids and revisions as MTEB pins them)
def stsbenchmark() -> STSTask:
    return STSTask("STSBenchmark", "stsbenchmark", "mteb/stsbenchmark-sts", "b0fddb56ed78048fa8b90373c8a3cfc37b684831")


def sickr() -> STSTask:
    return STSTask("SICK-R", "sickr", "mteb/sickr-sts", "20a6d6f312dd54037fe07a32d58e5e168867909d")


def biosses() -> STSTask:
    return STSTask("BIOSSES", "biosses", "mteb/biosses-sts", "d3fb88f8f02e40887cd149695127462bbcf29b4a")
