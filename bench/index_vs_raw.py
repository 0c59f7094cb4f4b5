#!/usr/bin/env python3
"""Every index adapter against its raw library doing the same work: build + search time, ours / raw.

For each registered adapter that bench/raw_indexes.py can call directly (exact, hnswlib, faiss-hnsw,
faiss-hnsw-sq8, faiss-ivf-flat, faiss-ivf-pq, usearch, lancedb-flat, lancedb-ivf-pq, lancedb-hnsw-sq),
on the same vectors and parameters, in the same run: the adapter through the door every task uses
(`make_index(name, **build).build(x)`, then `.search(q, k, **query)`, input checks, id mapping and
stats included) and the library called directly (raw_indexes: the same constructor, training, adds
and search call; LanceDB: the same table, index config and multi-vector search, up to `to_arrow()`).
After one untimed warm-up round (imports, first allocations), adapters and the raw/ours order
alternate every repeat; each time is the best of R, on the wall clock and in process CPU time
(steadier on a shared machine); fast adapters get more repeats (R: at least 2 s a side, at most
50). Prints one row per adapter: build, search and build + search ratio
(goal <= 1.05), and whether both returned the same ids ("n/a" where the library has no seed: LanceDB's
k-means and HNSW levels). This replaces bench/index_overhead.py (hnswlib only).

Vectors: MiniLM SciFact corpus and test queries from the shared embedding cache when they are there
(`--data synthetic` otherwise, or when asked): low-rank data of the same size and dimension.

    .venv/bin/python bench/index_vs_raw.py [--repeats 7] [--data auto|scifact|synthetic] [--only NAME ...]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

import raw_indexes  # noqa: E402  (bench/ is on sys.path when this script runs)

K = 10
MIN_SECONDS, MAX_REPEATS = 2.0, 50
# (build, query) per adapter: SciFact-sized settings; one thread everywhere (faiss's global count too, for
# exact search), so ratios are not OpenMP spin-waiting on a shared machine
SETTINGS = {
    "exact": ({}, {}),
    "hnswlib": ({"M": 16, "ef_construction": 128, "random_seed": 100}, {"ef": 100}),
    "faiss-hnsw": ({"M": 16, "ef_construction": 128, "omp_threads": 1}, {"ef": 100, "omp_threads": 1}),
    "faiss-hnsw-sq8": ({"M": 16, "ef_construction": 128}, {"ef": 100}),
    "faiss-ivf-flat": ({"nlist": 64}, {"nprobe": 8}),
    "faiss-ivf-pq": ({"nlist": 64, "M": 48, "nbits": 8, "refine": True}, {"nprobe": 8, "refine_factor": 4}),
    "usearch": ({"M": 16, "ef_construction": 128, "dtype": "f32"}, {"ef": 100}),
    "lancedb-flat": ({}, {}),
    "lancedb-ivf-pq": ({"num_partitions": 64, "sample_rate": 64, "num_sub_vectors": 48, "num_bits": 8},
                       {"nprobes": 8, "refine_factor": 4}),
    "lancedb-hnsw-sq": ({"M": 16, "ef_construction": 128}, {"ef": 100}),
}


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


def clocks() -> np.ndarray:
    """(wall, process CPU) seconds: CPU time is the steadier of the two on a shared, loaded machine."""
    return np.array([time.perf_counter(), time.process_time()])


def run_ours(name, build, query, x, q):
    from harness.registry import make_index   # the door every task uses
    t0 = clocks()
    index = make_index(name, **build).build(x)
    t1 = clocks()
    ids, _ = index.search(q, K, **query)
    t2 = clocks()
    deterministic = index.stats().get("deterministic", True)
    if hasattr(index, "close"):   # LanceDB: remove the database folder now (not timed, as on the raw side)
        index.close()
    return t1 - t0, t2 - t1, (ids if deterministic else None)   # None: unseeded build, ids may differ


def run_raw(name, params, query_params, x, q):
    t0 = clocks()
    index = raw_indexes.build(name, x, params)
    t1 = clocks()
    result = raw_indexes.search(name, index, q, K, params, query_params)
    t2 = clocks()
    raw_indexes.close(name, index)
    return t1 - t0, t2 - t1, raw_indexes.as_arrays(name, result, len(q), K)[0]


def adapters(only):
    from harness.registry import INDEXES, make_index
    out = []
    for name in INDEXES:
        if (only and name not in only) or name not in raw_indexes.RAW:
            continue
        build, query = SETTINGS.get(name, ({}, {}))
        index = make_index(name, **build)   # full parameter dicts for the raw side
        out.append((name, build, query, dict(index.build_params), {**index.query_params, **query}))
    skipped = [n for n in INDEXES if n not in raw_indexes.RAW and not (only and n not in only)]
    return out, skipped


def print_table(clock: str, c: int, times: dict, same: dict, repeats: dict) -> tuple[float, float]:
    """One table of best-of-R times (column `c` of the clocks) and ratios; returns the worst build+search
    ratio (best-of, paired)."""
    def ratio(ours, raw):
        return f"{ours / raw:6.3f}" if raw > 1e-4 else f"{'-':>6}"   # exact's "build" keeps a reference: ~0 s

    print(f"\n{clock} time, best of R; ratio = ours / raw; paired = median over repeats of ours / raw "
          f"build+search, each pair run back to back (robust to load drifting between repeats)")
    print(f"{'index':<16} {'R':>3} {'build raw':>10} {'ours':>9} {'ratio':>6}   {'search raw':>10} {'ours':>9} "
          f"{'ratio':>6}   {'build+search':>12} {'paired':>7}   same ids")
    worst = (0.0, 0.0)
    for name, t in times.items():
        rb, rs = (min(run[c] for run in v) for v in t["raw"])
        ob, os_ = (min(run[c] for run in v) for v in t["ours"])
        total = (ob + os_) / (rb + rs)
        paired = float(np.median([(b[c] + s[c]) / (b0[c] + s0[c])
                                  for b, s, b0, s0 in zip(*t["ours"], *t["raw"])]))
        worst = (max(worst[0], total), max(worst[1], paired))
        print(f"{name:<16} {repeats[name]:>3} {rb:9.4f}s {ob:8.4f}s {ratio(ob, rb)}   {rs:9.4f}s {os_:8.4f}s "
              f"{ratio(os_, rs)}   {total:12.3f} {paired:7.3f}   {same[name]}")
    return worst


def measure(todo, x, q, min_repeats: int):
    """Warm up, then time every adapter and its raw library alternately. Returns (times, same ids,
    repeats, failed): times[name][who] = (build clocks, search clocks), one entry per repeat."""
    failed = {}
    for name, build, query, params, qparams in todo:   # warm-up, not timed: imports, first allocations
        try:
            run_raw(name, params, qparams, x, q)
            run_ours(name, build, query, x, q)
        except Exception as e:   # one adapter's settings out of date must not stop the others
            failed[name] = f"{type(e).__name__}: {e}"
    todo = [t for t in todo if t[0] not in failed]
    times = {name: {"raw": ([], []), "ours": ([], [])} for name, *_ in todo}
    repeats, same = {name: 0 for name, *_ in todo}, {}

    def needs_more(name) -> bool:
        # fast adapters get more repeats (>= MIN_SECONDS of raw wall time, at most MAX_REPEATS): a best-of-7
        # of a 40 ms build follows the machine's noise, not the adapter
        spent = sum(b[0] + s[0] for b, s in zip(*times[name]["raw"]))
        return repeats[name] < min_repeats or (spent < MIN_SECONDS and repeats[name] < MAX_REPEATS)

    for r in range(MAX_REPEATS):
        for name, build, query, params, qparams in (t for t in todo if needs_more(t[0])):
            repeats[name] += 1
            ids = {}
            for who in (("raw", "ours") if r % 2 == 0 else ("ours", "raw")):
                b, s, ids[who] = (run_raw(name, params, qparams, x, q) if who == "raw"
                                  else run_ours(name, build, query, x, q))
                times[name][who][0].append(b)
                times[name][who][1].append(s)
            same[name] = ("n/a (unseeded build)" if ids["ours"] is None
                          else same.get(name, True) and np.array_equal(ids["raw"], ids["ours"]))
    return times, same, repeats, failed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--data", choices=["auto", "scifact", "synthetic"], default="auto")
    ap.add_argument("--only", nargs="*", default=None, help="registry names to run (default: every adapter)")
    args = ap.parse_args()
    data = scifact_vectors() if args.data in ("auto", "scifact") else None
    if data is None and args.data == "scifact":
        print("SciFact vectors are not in the embedding cache; run `python run.py run --tasks SciFact` first")
        return 2
    label = "MiniLM SciFact corpus/test queries (from cache)" if data is not None else "synthetic low-rank"
    x, q = data if data is not None else synthetic()
    todo, skipped = adapters(args.only)
    print(f"data: {label}: corpus {x.shape}, queries {q.shape}, ip, k={K}; best of R >= {args.repeats} runs "
          f"(>= {MIN_SECONDS:g} s a side), raw/ours order alternating; 1 thread; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    warnings.simplefilter("ignore")   # few points per PQ centroid on a 5k corpus: known, same on both sides
    import faiss
    faiss.omp_set_num_threads(1)   # exact search has no thread parameter: one OpenMP thread for both sides
    times, same, repeats, failed = measure(todo, x, q, args.repeats)
    worst = {clock: print_table(clock, c, times, same, repeats) for c, clock in enumerate(("wall", "CPU"))}
    print("\nworst build+search ratio (best-of / paired): "
          + ", ".join(f"{k} {v[0]:.3f} / {v[1]:.3f}" for k, v in worst.items()) + " (goal <= 1.05)")
    for name, why in failed.items():
        print(f"{name}: failed, not timed: {why}")
    if skipped:
        print(f"not benchmarked (no raw counterpart in bench/raw_indexes.py): {', '.join(skipped)}")
    return 0 if all(v is not False for v in same.values()) and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
