#!/usr/bin/env python3
"""Overhead of the harness's hnswlib adapter over raw hnswlib: same vectors, same parameters.

Prints (ours / raw) for build, query and build+query, best of R alternating runs (goal <= 1.05),
plus the ratio of medians (the adapter adds input checks and id mapping: well under 1 ms here, so the
ratios mostly show run-to-run noise of the library itself).
Vectors: MiniLM SciFact corpus and test queries from the shared embedding cache when they are there
(`--data synthetic` otherwise, or when asked): low-rank data of the same size and dimension.

    .venv/bin/python bench/index_overhead.py [--repeats 5] [--data auto|scifact|synthetic]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

M, EF_CONSTRUCTION, EF, K, SEED = 16, 128, 100, 10, 100


def scifact_vectors():
    """(corpus, queries) from the embedding cache; None when any vector would have to be encoded."""
    from adapters.models.sentence_transformers import packaged_minilm
    from harness.cache import EmbeddingCache
    from harness.data import resolve_data_root
    from tasks.retrieval import scifact
    root = resolve_data_root(None)
    if root is None:
        return None
    task = scifact()
    task.load(root)
    model = packaged_minilm()
    cache = EmbeddingCache(os.environ.get("HARNESS_CACHE", REPO / ".cache" / "embeddings"))
    out = []
    for texts, role in ((task.doc_texts, "document"), (task.query_texts, "query")):
        vectors = cache.cached_vectors(model.meta, texts, role)
        if vectors is None:
            return None
        out.append(vectors)
    return tuple(np.ascontiguousarray(v, dtype=np.float32) for v in out)


def synthetic(n=5183, nq=300, d=384, rank=32, seed=0):
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((rank, d))
    x = rng.standard_normal((n + nq, rank)) @ basis + 0.3 * rng.standard_normal((n + nq, d))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return x[:n], x[n:]


def run_raw(x, q):
    import hnswlib
    t0 = time.perf_counter()
    index = hnswlib.Index(space="ip", dim=x.shape[1])
    index.init_index(max_elements=len(x), M=M, ef_construction=EF_CONSTRUCTION, random_seed=SEED)
    index.add_items(x, np.arange(len(x)), num_threads=1)
    t1 = time.perf_counter()
    index.set_ef(EF)
    labels, _ = index.knn_query(q, k=K, num_threads=1)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, labels.astype(np.int64)


def run_ours(x, q):
    from harness.registry import make_index   # the door every task uses
    t0 = time.perf_counter()
    index = make_index("hnswlib", M=M, ef_construction=EF_CONSTRUCTION, random_seed=SEED, num_threads=1).build(x)
    t1 = time.perf_counter()
    ids, _ = index.search(q, K, ef=EF, num_threads=1)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, ids


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--data", choices=["auto", "scifact", "synthetic"], default="auto")
    args = ap.parse_args()
    data = scifact_vectors() if args.data in ("auto", "scifact") else None
    if data is None and args.data == "scifact":
        print("SciFact vectors are not in the embedding cache; run `python run.py run --tasks SciFact` first")
        return 2
    label = "MiniLM SciFact corpus/test queries (from cache)" if data is not None else "synthetic low-rank"
    x, q = data if data is not None else synthetic()
    print(f"data: {label}: corpus {x.shape}, queries {q.shape}; M={M} ef_construction={EF_CONSTRUCTION} "
          f"ef={EF} k={K} seed={SEED} num_threads=1; best of {args.repeats} alternating runs")
    raw_b, raw_q, ours_b, ours_q = [], [], [], []
    for r in range(args.repeats):
        for name in (("raw", "ours") if r % 2 == 0 else ("ours", "raw")):
            b, s, ids = run_raw(x, q) if name == "raw" else run_ours(x, q)
            (raw_b if name == "raw" else ours_b).append(b)
            (raw_q if name == "raw" else ours_q).append(s)
            if name == "raw":
                raw_ids = ids
            else:
                our_ids = ids
    same = np.array_equal(raw_ids, our_ids)
    rb, rq, ob, oq = min(raw_b), min(raw_q), min(ours_b), min(ours_q)
    med = float(np.median(np.add(ours_b, ours_q)) / np.median(np.add(raw_b, raw_q)))
    print(f"identical results (ids): {same}")
    print(f"build        raw {rb:8.3f} s   ours {ob:8.3f} s   ours/raw {ob / rb:.3f}")
    print(f"query        raw {rq:8.4f} s   ours {oq:8.4f} s   ours/raw {oq / rq:.3f}")
    print(f"build+query  raw {rb + rq:8.3f} s   ours {ob + oq:8.3f} s   ours/raw {(ob + oq) / (rb + rq):.3f}"
          f"   (goal <= 1.05)")
    print(f"build+query  ratio of medians ours/raw {med:.3f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
