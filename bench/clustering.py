"""Wall time of our clustering task against mteb 2.x's, same vectors, same protocol, Banking77 test.

Both sides get MiniLM vectors from the shared embedding cache (encoded once if missing, outside the
timed region), so the ratio compares the evaluation work: k-means, metrics and each side's data
handling. mteb is run through local subclasses of its abstract tasks (tests/mteb_local.py).
Prints harness/mteb per protocol (goal <= 1.0) and checks that the scores agree.

    .venv/bin/python bench/clustering.py [--data-root DIR] [--repeats 3] [--sample-size 16384]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("MTEB_CACHE", str(REPO / ".cache" / "mteb"))


def timed(fn, repeats: int):
    times, value = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sample-size", type=int, default=16384, help="fast protocol: rows per bootstrap draw")
    args = ap.parse_args()

    from adapters.models.sentence_transformers import packaged_minilm
    from harness.cache import EmbeddingCache
    from harness.data import resolve_data_root
    from harness.embedding import CachedModel
    import tasks.clustering as tcl
    from tests.mteb_local import VectorModel, clustering_fast_task, clustering_legacy_task, run

    root = resolve_data_root(args.data_root)
    model = CachedModel(packaged_minilm(), EmbeddingCache(REPO / ".cache" / "embeddings"), progress=False)
    legacy = tcl.banking77()
    legacy.load(root)
    texts, labels = legacy.data.texts, legacy.data.labels
    model.encode(texts)  # warm the cache (and import torch) outside the timed region
    import mteb  # noqa: F401  (import cost is not part of either side's evaluation)

    fast = tcl.banking77_v2()
    fast.params["sample_size"] = args.sample_size
    fast.load(root)
    vm = VectorModel(model)
    cases = [("legacy", lambda: legacy.evaluate(model).scores, lambda: run(clustering_legacy_task(texts, labels), vm)),
             ("fast", lambda: fast.evaluate(model).scores,
              lambda: run(clustering_fast_task(texts, labels, sample_size=args.sample_size), vm))]
    print(f"Banking77 test: {len(texts)} texts, {len(set(labels))} labels; median of {args.repeats} runs; "
          f"fast protocol: 10 draws x {args.sample_size} rows")
    print(f"{'protocol':<8} {'harness s':>10} {'mteb s':>9} {'harness/mteb':>13} {'v_measure harness':>18} "
          f"{'v_measure mteb':>15}")
    for name, ours_fn, mteb_fn in cases:
        t_ours, ours = timed(ours_fn, args.repeats)
        t_mteb, ref = timed(mteb_fn, args.repeats)
        same = abs(ours["v_measure"] - ref["v_measure"]) <= 1e-9
        print(f"{name:<8} {t_ours:>10.3f} {t_mteb:>9.3f} {t_ours / t_mteb:>13.3f} {ours['v_measure']:>18.12f} "
              f"{ref['v_measure']:>15.12f}{'' if same else '  MISMATCH'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
