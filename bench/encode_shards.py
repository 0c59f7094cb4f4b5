"""Encoding throughput of sharded encoding (harness/sharding.py) with 1 and 2 Dask workers, against one process.

A synthetic text generator (Zipf-distributed words from a fixed vocabulary, 8-120 words a text, seeded) makes
--texts distinct texts; each configuration encodes all of them into its own fresh embedding cache with the
packaged all-MiniLM-L6-v2 (or --model):

- in-process: `CachedModel.encode` in this process, torch on every core (what `run.py run` does alone);
- dask-1 / dask-2: the texts cut into shards of --shard-size, `encode_shard` mapped over a LocalCluster of
  1 or 2 worker processes (one thread each, as Dask starts them), each worker loading the model once.

Printed per configuration: wall seconds (cluster start and model loads included), the summed seconds inside
shards, texts/s (wall), texts/s per worker (inside shards) and the ratio to in-process; then whether every
configuration's vectors are byte-identical to the in-process ones. On 2 cores, 2 one-thread workers do the
work of one two-thread process: expect a ratio near 1, not 2; per-worker throughput is what a cluster
estimate scales (docs/dask.md works MSMARCO's estimate from it).

    .venv/bin/python bench/encode_shards.py [--texts 2000] [--shard-size 128] [--model all-MiniLM-L6-v2]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.cache import EmbeddingCache  # noqa: E402
from harness.runner import RunSettings, get_model  # noqa: E402
from harness.sharding import cut_shards, encode_shard  # noqa: E402


def synthetic_texts(n: int, seed: int = 0, vocab: int = 20_000) -> list[str]:
    """n distinct pseudo-sentences: Zipf(1.1) word ranks over `vocab` made-up words, 8-120 words each."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ne", "su", "ra", "to", "vi", "de", "po", "an", "el", "or", "is", "um"]
    words = ["".join(rng.choice(syllables, size=rng.integers(1, 4))) + str(i % 7) for i in range(vocab)]
    texts = []
    for i in range(n):
        ranks = np.minimum(rng.zipf(1.1, size=int(rng.integers(8, 121))), vocab) - 1
        texts.append(f"{i} " + " ".join(words[r] for r in ranks))
    return texts


def in_process(model_name: str, texts: list[str], cache_dir: Path) -> tuple[float, float, np.ndarray]:
    from harness.embedding import CachedModel
    t0 = time.perf_counter()
    cached = CachedModel(get_model(model_name), EmbeddingCache(cache_dir), progress=False)
    vecs = cached.encode(texts, role=None)
    wall = time.perf_counter() - t0
    return wall, cached.stats["encode_s"], vecs


def on_dask(model_name: str, texts: list[str], cache_dir: Path, workers: int, shard_size: int):
    from harness.dask_executor import DaskExecutor
    settings = RunSettings(results_dir=str(cache_dir.parent / "results"), data_root=None, cache_dir=str(cache_dir),
                           progress=False)
    shards = cut_shards(model_name, None, texts, [{"synthetic"}] * len(texts), shard_size)
    t0 = time.perf_counter()
    with DaskExecutor("local", n_workers=workers) as executor:
        outcomes = list(executor.map(encode_shard, shards, settings))
    wall = time.perf_counter() - t0
    bad = [o.error for o in outcomes if o.status != "ok"]
    if bad:
        raise SystemExit(f"shards failed: {bad[:3]}")
    per_worker: dict = {}
    for o in outcomes:
        per_worker[o.worker] = per_worker.get(o.worker, 0.0) + o.seconds
    vecs = EmbeddingCache(cache_dir).cached_vectors(get_model(model_name).meta, texts, None)
    return wall, per_worker, vecs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=2000)
    ap.add_argument("--shard-size", type=int, default=128)
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    args = ap.parse_args()
    texts = synthetic_texts(args.texts)
    words = np.mean([len(t.split()) for t in texts])
    print(f"{len(texts)} synthetic texts ({words:.0f} words on average), model {args.model}, "
          f"shards of {args.shard_size}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="harness-encode-bench-") as tmp:
        tmp = Path(tmp)
        get_model(args.model)   # loaded before the clock starts, as a run's planning does
        wall, inside, ref = in_process(args.model, texts, tmp / "in-process" / "cache")
        rows.append(("in-process (all cores)", wall, inside, 1, True))
        for workers in (1, 2):
            wall_w, per_worker, vecs = on_dask(args.model, texts, tmp / f"dask-{workers}" / "cache", workers,
                                               args.shard_size)
            rows.append((f"dask, {workers} worker(s) x 1 thread", wall_w, sum(per_worker.values()),
                         len(per_worker), vecs is not None and vecs.tobytes() == ref.tobytes()))
    base = len(texts) / rows[0][1]
    print(f"\n{'configuration':<30} {'wall s':>8} {'in shards s':>11} {'workers':>7} {'texts/s':>8} "
          f"{'per worker':>10} {'vs in-process':>13} {'bytes equal':>11}")
    for name, wall, inside, n_workers, same in rows:
        rate = len(texts) / wall
        per = len(texts) / inside if inside else float("nan")   # one worker's rate: texts per second of its work
        print(f"{name:<30} {wall:>8.1f} {inside:>11.1f} {n_workers:>7} {rate:>8.1f} {per:>10.1f} "
              f"{rate / base:>12.2f}x {str(same):>11}")
    print("\nper worker: texts / summed seconds inside shards (the rate one worker sustains; in-process: one "
          "process on every core)")
    return 0 if all(r[4] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
