#!/usr/bin/env python3
"""LanceDB (embedded) against faiss IVF-PQ: recall@10 against single-threaded QPS, same vectors, same queries.

Sweeps the query parameters of `lancedb-ivf-pq` (nprobes x refine_factor), `lancedb-hnsw-sq` (ef x
refine_factor) and `faiss-ivf-pq` (nprobe x refine_factor, exact re-ranking kept), all through the
harness's adapters (`harness.registry.make_index`), one build each. faiss gets as many lists (nlist)
as LanceDB trained partitions and as many sub-quantizers (M) as LanceDB's num_sub_vectors, so both IVF-PQ
indexes hold the same codes per vector. For each LanceDB index it prints its best point with
recall_tie@10 >= --target (the fastest such point) next to faiss IVF-PQ's fastest point at that
recall or higher, and the QPS ratio from re-timing the two alternately (--rounds).

Timing: each point runs all queries in one `search` call, one warm-up, then R timed calls; QPS =
n_queries / best time, on the wall clock (QPS proper, the default `--clock`) and on process CPU time
(user + system, every thread). Both are printed. On a shared machine the wall clock also counts time
the process waited for a core; `--clock cpu` then chooses the points on the steadier CPU clock.
`cpu/wall` > 1: more than one core busy (LanceDB keeps an async runtime beside its one compute
thread, and its CPU time counts against it); < 1: the process waited (for a core on a loaded machine,
or LanceDB for its own I/O and task hand-offs, seen even on a quiet machine). Recall: tie rule against
exact search (tasks.metrics.ann.recall_at_k).

Vectors: MiniLM SciFact corpus and its 300 test queries from the shared embedding cache (`--data
scifact`; `auto` uses them when cached), or a synthetic low-rank set (`--data synthetic --n 100000`).

    .venv/bin/python bench/lancedb_vs_faiss.py [--data auto|scifact|synthetic] [--n 50000] [--repeats 3]
                                               [--rounds 5] [--clock wall|cpu] [--target 0.95]
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

K = 10
METRIC = "cosine"
REFINE = (None, 2, 4, 8, 16)


def load(data: str, n: int, nq: int):
    """(name, corpus, queries)."""
    if data in ("auto", "scifact"):
        sys.path.insert(0, str(REPO / "bench"))
        from index_vs_raw import scifact_vectors   # the bench suite's one loader of cached SciFact vectors
        vectors = scifact_vectors()
        if vectors is not None:
            return "SciFact MiniLM corpus / test queries", vectors[0], vectors[1]
        if data == "scifact":
            raise SystemExit("SciFact MiniLM vectors are not in the embedding cache: run the SciFact task once, "
                             "or use --data synthetic")
    rng = np.random.default_rng(0)
    d, rank = 384, 32   # low-rank plus noise: neighbour structure like real embeddings (environment.md §4)
    x = rng.standard_normal((n + nq, rank)) @ rng.standard_normal((rank, d)) + 0.3 * rng.standard_normal((n + nq, d))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return f"synthetic low-rank (rank {rank}, dim {d})", x[:n], x[n:]


def cpu_s() -> float:
    return time.process_time()   # CLOCK_PROCESS_CPUTIME_ID: every thread of the process, ns resolution


def timed(search, q, repeats: int) -> tuple[tuple, dict]:
    """(warm-up result, {"wall", "cpu": QPS from the best of `repeats` calls on each clock, "cpu_wall"})."""
    result = search(q)
    wall, cpu = [], []
    for _ in range(repeats):
        c0, w0 = cpu_s(), time.perf_counter()
        search(q)
        wall.append(time.perf_counter() - w0)
        cpu.append(cpu_s() - c0)
    return result, {"wall": len(q) / min(wall), "cpu": len(q) / max(min(cpu), 1e-9),
                    "cpu_wall": sum(cpu) / sum(wall)}


def sweep(label: str, name: str, build: dict, points, x, q, gt, repeats: int) -> tuple[list, object]:
    """Build once, search every query point (`points(built index)`); rows of (label, point, recall,
    QPS on both clocks, cpu/wall, the built index)."""
    from harness.registry import make_index
    from tasks.ann_measure import pinned_pools
    from tasks.metrics.ann import recall_at_k
    index = make_index(name, **build)
    t0 = time.perf_counter()
    index.build(x)
    build_s = time.perf_counter() - t0
    rows = []
    points = points(index)
    with pinned_pools(1):
        for point in points:
            (ids, _), qps = timed(lambda qq: index.search(qq, K, **point), q, repeats)
            recall = float(recall_at_k(gt[0], gt[1], ids, K)[1].mean())
            rows.append({"index": label, "point": point, "recall": recall, **qps, "built": index})
    st = index.stats()
    print(f"  built {label}: {build_s:.2f} s, {st['size_bytes'] / 2**20:.1f} MiB, {len(points)} query points",
          flush=True)
    return rows, index


def confirm(pair: list[dict], q, repeats: int, rounds: int) -> list[dict]:
    """Re-time the pair alternately (`rounds` x best of `repeats` each, the best kept per clock), so that a
    load change on a shared machine hits both sides of the ratio alike. Returns their QPS per clock."""
    from tasks.ann_measure import pinned_pools
    best = [{"wall": 0.0, "cpu": 0.0} for _ in pair]
    with pinned_pools(1):
        for _ in range(rounds):
            for i, row in enumerate(pair):
                _, qps = timed(lambda qq: row["built"].search(qq, K, **row["point"]), q, repeats)
                best[i] = {c: max(best[i][c], qps[c]) for c in ("wall", "cpu")}
    return best


def fastest_at(rows: list[dict], recall: float, clock: str) -> dict | None:
    ok = [r for r in rows if r["recall"] >= recall - 1e-12]
    return max(ok, key=lambda r: r[clock]) if ok else None


def fmt(row: dict | None) -> str:
    if row is None:
        return "none reaches it"
    point = ", ".join(f"{k}={v}" for k, v in row["point"].items())
    return (f"recall {row['recall']:.4f}  QPS cpu {row['cpu']:7.0f} wall {row['wall']:7.0f}  "
            f"cpu/wall {row['cpu_wall']:.2f}  [{point}]")


def probes(partitions: int) -> list[int]:
    out = [p for p in (1, 2, 4, 8, 16, 32, 64, 128) if p < partitions]
    return out + [partitions]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", choices=("auto", "scifact", "synthetic"), default="auto")
    ap.add_argument("--n", type=int, default=50_000, help="synthetic corpus size")
    ap.add_argument("--queries", type=int, default=300, help="synthetic query count")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5, help="alternating re-timings of each reported pair")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="the QPS points are chosen on")
    ap.add_argument("--target", type=float, default=0.95, help="recall_tie@10 LanceDB must reach")
    ap.add_argument("--num-sub-vectors", type=int, default=48, help="PQ sub-vectors (both libraries)")
    args = ap.parse_args()

    from adapters.indexes.exact import ExactIndex
    what, x, q = load(args.data, args.n, args.queries)
    print(f"data: {what}: {len(x)} x {x.shape[1]}, {len(q)} queries, metric {METRIC}, k={K}, "
          f"best of {args.repeats}, one thread")
    gt = ExactIndex(metric=METRIC).build(x).search(q, 100)

    common = {"metric": METRIC}

    def pq_points(index):   # num_partitions=None: sqrt(n) within LanceDB's n // sample_rate cap, in stats
        return [{"nprobes": p, "refine_factor": r} for p in probes(index.stats()["num_partitions"]) for r in REFINE]
    lance_pq_rows, lance_pq = sweep("lancedb-ivf-pq", "lancedb-ivf-pq",
                                    {**common, "num_sub_vectors": args.num_sub_vectors}, pq_points, x, q, gt,
                                    args.repeats)
    parts = int(lance_pq.stats()["num_partitions"])
    hnsw_points = [{"ef": ef, "refine_factor": r} for ef in (10, 20, 40, 80, 160, 320) for r in (None, 2)
                   if r is None or ef >= K * r]   # LanceDB: ef >= k * refine_factor
    lance_hnsw_rows, lance_hnsw = sweep("lancedb-hnsw-sq", "lancedb-hnsw-sq",
                                        {**common, "M": 16, "ef_construction": 128}, lambda _: hnsw_points,
                                        x, q, gt, args.repeats)
    faiss_points = [{"nprobe": p, "refine_factor": r or 0} for p in probes(parts) for r in REFINE]
    faiss_rows, _ = sweep("faiss-ivf-pq", "faiss-ivf-pq", {**common, "nlist": parts, "M": args.num_sub_vectors,
                          "nbits": 8, "refine": True}, lambda _: faiss_points, x, q, gt, args.repeats)

    print(f"\nall points (recall_tie@{K}, single-threaded batch QPS):")
    every = lance_pq_rows + lance_hnsw_rows + faiss_rows
    for row in sorted(every, key=lambda r: (r["index"], -r["recall"], -r[args.clock])):
        print(f"  {row['index']:16s} {fmt(row)}")
    print(f"\nLanceDB's best point at recall >= {args.target} next to faiss IVF-PQ (nlist={parts}, "
          f"M={args.num_sub_vectors}, nbits=8) at the same or higher recall, fastest on the {args.clock} clock:")
    for label, rows in (("lancedb-ivf-pq", lance_pq_rows), ("lancedb-hnsw-sq", lance_hnsw_rows)):
        best = fastest_at(rows, args.target, args.clock)
        peer = fastest_at(faiss_rows, best["recall"], args.clock) if best else None
        print(f"  {label:16s} {fmt(best)}")
        print(f"  {'faiss-ivf-pq':16s} {fmt(peer)}")
        if best and peer:
            lance, faiss = confirm([best, peer], q, args.repeats, args.rounds)
            for clock in ("cpu", "wall"):
                print(f"  -> re-timed alternately ({args.rounds} rounds), {clock:4s} clock: {label} "
                      f"{lance[clock]:.0f} QPS, faiss-ivf-pq {faiss[clock]:.0f} QPS; faiss / LanceDB = "
                      f"{faiss[clock] / lance[clock]:.2f}")
    lance_pq.close()
    lance_hnsw.close()
    return 0 if all(math.isfinite(r["wall"]) for r in every) else 1


if __name__ == "__main__":
    sys.exit(main())
