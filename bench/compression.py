#!/usr/bin/env python3
"""Compressed search against float32 flat search on the same corpus (issue 17).

Prints, for float32 flat (`exact`), int8 codes (`int8-flat`) and sign bits (`binary-hamming`), built
through the door every task uses (`make_index`), and for the bare faiss calls underneath (IndexFlatIP,
IndexScalarQuantizer QT_8bit_direct_signed on the int8 codes, IndexBinaryFlat): search QPS (best of R batched searches of all queries,
the three alternating each repeat), QPS over float32 QPS, bytes per vector and float32 bytes over them
(exactly 4 and 32 at 384 dimensions), and recall@10 of each against float32 flat (with rescoring r = 4
too). Hugging Face's quantisation study reports binary Hamming search at a mean 24.8x float32 on its
hardware; the ratio grows with the corpus (a larger corpus: `--data synthetic --n 200000`).

Vectors: MiniLM SciFact corpus and test queries from the shared embedding cache (bench/index_vs_raw.py's
loader), or synthetic low-rank unit vectors.

    .venv/bin/python bench/compression.py [--data auto|scifact|synthetic] [--n 5183] [--repeats 7] [--k 10]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from index_vs_raw import scifact_vectors, synthetic  # noqa: E402  (bench/ is on sys.path)


def best_time(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(a[:k]) & set(b)) / k for a, b in zip(found, truth)]))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", choices=("auto", "scifact", "synthetic"), default="auto")
    ap.add_argument("--n", type=int, default=5183, help="corpus size of the synthetic data")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args(argv)

    import faiss

    from harness import quantize as qz
    from harness.registry import make_index

    data = scifact_vectors() if args.data in ("auto", "scifact") else None
    if data is None and args.data == "scifact":
        raise SystemExit("SciFact vectors are not in the embedding cache; run `python run.py run --tasks SciFact`")
    corpus, queries = data if data is not None else synthetic(n=args.n)
    label = "MiniLM SciFact (cache)" if data is not None else f"synthetic low-rank, n={args.n}"
    d = corpus.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", qz.CompressionWarning)
        ours = {"float32": make_index("exact").build(corpus), "int8": make_index("int8-flat").build(corpus),
                "binary": make_index("binary-hamming").build(corpus)}
        ranges = qz.calibration_ranges(corpus)
    raw_f32 = faiss.IndexFlatIP(d)
    raw_f32.add(corpus)
    raw_i8 = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit_direct_signed, faiss.METRIC_INNER_PRODUCT)
    raw_i8.add(qz.quantize(corpus, "int8", ranges).astype(np.float32))
    raw_bin = faiss.IndexBinaryFlat(((d + 7) // 8) * 8)
    raw_bin.add(qz.quantize(corpus, "ubinary"))
    q_i8 = qz.quantize(queries, "int8", ranges).astype(np.float32)
    q_bin = qz.quantize(queries, "ubinary")
    k = args.k
    searches = {
        ("ours", "float32"): lambda: ours["float32"].search(queries, k),
        ("ours", "int8"): lambda: ours["int8"].search(queries, k),
        ("ours", "binary"): lambda: ours["binary"].search(queries, k),
        ("faiss", "float32"): lambda: raw_f32.search(queries, k),
        ("faiss", "int8"): lambda: raw_i8.search(q_i8, k),
        ("faiss", "binary"): lambda: raw_bin.search(q_bin, k),
    }
    for fn in searches.values():   # warm-up
        fn()
    times = {key: np.inf for key in searches}
    for _ in range(args.repeats):   # alternate, so a busy spell hits every variant
        for key, fn in searches.items():
            times[key] = min(times[key], best_time(fn, 1))
    truth = ours["float32"].search(queries, k)[0]
    print(f"data: {label}; corpus {len(corpus)} x {d}, {len(queries)} queries, k={k}, best of {args.repeats}, "
          f"faiss threads {faiss.omp_get_max_threads()}")
    print(f"{'precision':10s} {'bytes/vec':>9s} {'f32 bytes/':>10s} {'QPS ours':>10s} {'x f32':>7s} "
          f"{'QPS faiss':>10s} {'x f32':>7s} {'recall@k':>8s} {'r=4 recall':>10s}")
    f32_bytes = qz.bytes_per_vector(d, "float32")
    for prec in ("float32", "int8", "binary"):
        nbytes = ours[prec].stats()["size_bytes"] // len(corpus)
        assert nbytes == qz.bytes_per_vector(d, prec)
        qo, qf = len(queries) / times[("ours", prec)], len(queries) / times[("faiss", prec)]
        base_o = len(queries) / times[("ours", "float32")]
        base_f = len(queries) / times[("faiss", "float32")]
        rec = recall(ours[prec].search(queries, k)[0], truth)
        rec4 = recall(ours[prec].search(queries, k, rescore=True, rescore_multiplier=4)[0], truth) \
            if prec != "float32" else 1.0
        print(f"{prec:10s} {nbytes:9d} {f32_bytes / nbytes:9.1f}x {qo:10.0f} {qo / base_o:6.2f}x {qf:10.0f} "
              f"{qf / base_f:6.2f}x {rec:8.3f} {rec4:10.3f}")


if __name__ == "__main__":
    main()
