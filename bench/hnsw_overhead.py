#!/usr/bin/env python3
"""Overhead of the HNSW insertion-order task's sweep over raw hnswlib, and ground-truth reuse.

1. One configuration (random order, M=16, efConstruction=128, 1 thread; ef in {10, 20, 40, 80}, k=10):
   our `tasks.hnsw_order.sweep` (adapter build with the order, one search per ef, tie-aware recall
   per ef) against raw hnswlib doing the same inserts (`add_items(X[perm], perm, num_threads=1)`)
   and the same queries (`set_ef`; `knn_query(num_threads=1)`). Prints ours/raw for the index work
   (build + searches, as the task records them) and for the whole sweep call including recall
   scoring; best of R alternating runs. Goal: <= 1.05.
2. Ground-truth reuse: the first order computes exact kNN (and caches it as .npy); the second order
   of the same (vectors, queries, metric, k) reads it back: it counts the exact-kNN calls.

Data: low-rank float32 (intrinsic dim 24 + 0.3 noise, L2-normalised, inner product; the structured
data of notes/environment.md §4), 20,000 x 384 + 1,000 queries by default, the size of the raw anchor
in issue 7 (build 4.7 s, 11,000 q/s at ef=40 on 1 free core; compare ratios, not absolute times,
on a loaded machine).

    .venv/bin/python bench/hnsw_overhead.py [--n 20000] [--nq 1000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HARNESS_PROGRESS", "0")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

M, EFC, EFS, K, SEED = 16, 128, (10, 20, 40, 80), 10, 100


def low_rank(n, nq, d=384, rank=24, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n + nq, rank)) @ rng.standard_normal((rank, d)) + noise * rng.standard_normal((n + nq, d))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return x[:n], x[n:]


def run_raw(x, q, perm):
    import hnswlib
    t0 = time.perf_counter()
    index = hnswlib.Index(space="ip", dim=x.shape[1])
    index.init_index(max_elements=len(x), M=M, ef_construction=EFC, random_seed=SEED)
    index.add_items(x[perm], perm, num_threads=1)
    build = time.perf_counter() - t0
    search, ids = {}, {}
    for ef in EFS:
        t0 = time.perf_counter()
        index.set_ef(ef)
        labels, _ = index.knn_query(q, k=K, num_threads=1)
        search[ef] = time.perf_counter() - t0
        ids[ef] = labels.astype(np.int64)
    return build, search, ids


def run_ours(x, q, perm, gt_ids, gt_d):
    from tasks.hnsw_order import sweep
    from tasks.index_specs import IndexSpec
    t0 = time.perf_counter()
    spec = IndexSpec("hnswlib", "hnswlib", build={"random_seed": SEED})   # 1 thread: the adapter default
    records, builds, _, _, _ = sweep(x, q, gt_ids, gt_d, metric="ip", k=K, orders={"random:0": perm},
                                     indexes=[spec], builds=[{"M": M, "ef_construction": EFC}], efs=list(EFS),
                                     progress=False)
    wall = time.perf_counter() - t0
    return builds[0]["build_s"], sum(r["search_s"] for r in records), wall, {r["ef"]: r for r in records}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import tasks.neighbours as nb
    from tasks.metrics.ann import recall_at_k
    x, q = low_rank(args.n, args.nq)
    perm = np.random.default_rng(0).permutation(args.n)
    print(f"data: low-rank {x.shape} + {q.shape[0]} queries, ip; M={M} efC={EFC} ef={list(EFS)} k={K} "
          f"seed={SEED}; 1 thread; best of {args.repeats} alternating runs; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    # -- 2. ground truth: computed for the first order, read back for the second ---------------------
    calls = []
    real = nb.exact_neighbours
    nb.exact_neighbours = lambda *a, **kw: calls.append(1) or real(*a, **kw)
    with tempfile.TemporaryDirectory() as cache:
        gt_ids, gt_d, first = nb.ground_truth(x, q, "ip", K, cache_dir=Path(cache))
        n_first = len(calls)
        _, _, second = nb.ground_truth(x, q, "ip", K, cache_dir=Path(cache))
        n_second = len(calls) - n_first
    nb.exact_neighbours = real

    # -- 1. overhead ---------------------------------------------------------------------------------
    raw_b, raw_s, our_b, our_s, our_w, raw_ef40, our_ef40 = [], [], [], [], [], [], []
    for r in range(args.repeats):
        for who in (("raw", "ours") if r % 2 == 0 else ("ours", "raw")):
            if who == "raw":
                b, per_ef, raw_ids = run_raw(x, q, perm)
                raw_b.append(b)
                raw_s.append(sum(per_ef.values()))
                raw_ef40.append(per_ef[40])
            else:
                b, s, w, recs = run_ours(x, q, perm, gt_ids, gt_d)
                our_ef40.append(recs[40]["search_s"])
                our_b.append(b)
                our_s.append(s)
                our_w.append(w)
    same = all(recall_at_k(gt_ids, gt_d, raw_ids[ef], K)[1].mean() == recs[ef]["recall_tie"] for ef in EFS)
    rb, rs, ob, os_, ow = min(raw_b), min(raw_s), min(our_b), min(our_s), min(our_w)
    print("recall_tie@10 by ef: " + ", ".join(f"{ef}: {recs[ef]['recall_tie']:.4f}" for ef in EFS)
          + f"; raw hnswlib gives the same recall at every ef: {same}")
    print(f"QPS at ef=40, 1 thread (best run): raw {args.nq / min(raw_ef40):.0f}, ours {args.nq / min(our_ef40):.0f}")
    print(f"build           raw {rb:8.3f} s   ours {ob:8.3f} s   ours/raw {ob / rb:.3f}")
    print(f"4 ef searches   raw {rs:8.4f} s   ours {os_:8.4f} s   ours/raw {os_ / rs:.3f}")
    print(f"build+search    raw {rb + rs:8.3f} s   ours {ob + os_:8.3f} s   ours/raw {(ob + os_) / (rb + rs):.3f}"
          f"   (goal <= 1.05)")
    print(f"whole sweep call incl. recall scoring: ours {ow:8.3f} s   ours/raw {ow / (rb + rs):.3f}")
    print(f"ground truth, order 1: exact-kNN calls {n_first}, {first['seconds']:.3f} s (computed, cached as .npy)")
    print(f"ground truth, order 2: exact-kNN calls {n_second}, {second['seconds']:.3f} s (cache hit: "
          f"{second['cache_hit']})")
    return 0 if same and n_second == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
