"""Intrinsic dimension: our MLE + TwoNN (one faiss kNN shared) against scikit-dimension 0.5.0.

Data, both float32 as a user would hold them:
  * word2vec GoogleNews, the 13,013 x 300 WEFE subset (shared data root);
  * 20,000 x 384 all-MiniLM-L6-v2 embeddings of real texts: the unique Banking77 train texts, then
    unique Emotion train texts, first 20,000 distinct vectors (shared embedding cache; encoded once
    if absent). Distinct, because skdim's MLE reads 0 when two points coincide.

Each (method, data set) runs in a fresh child process, so its peak memory is its own: the child
loads the matrix, resets the kernel's peak-RSS counter (/proc/self/clear_refs), runs the estimator
and reports wall time and peak RSS above the loaded baseline. Best wall time of --repeat runs.
  ours:  knn(X, 20) -> mle(harmonic, k=20) + twonn(linear, discard 0.1)
  skdim: skdim.id.MLE().fit(X) (k=20, comb="mle") + skdim.id.TwoNN().fit(X)
  floor: the float32 products <x_i, x_j> for i <= j only (upper-triangle 2048-row blocks, numpy's
         BLAS), i.e. the arithmetic any exact kNN of these points must do at least once even if it
         used the symmetry and selected neighbours for free. skdim s / floor s is the largest
         speed-up an exact search can reach on this machine.

Usage: .venv/bin/python bench/id_vs_skdim.py [--repeat 2] [--n-minilm 20000] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _common import ENV, REPO

sys.path.insert(0, str(REPO))


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def child(method: str, npy: str) -> None:
    from harness.io import load_npy
    X = load_npy(npy, "bench vectors")
    if method == "floor":
        Xt = np.ascontiguousarray(X.T)
    elif method == "ours":
        from tasks.metrics.intrinsic_dim import mle, twonn
        from tasks.metrics.knn import knn
        from harness.registry import make_index
        make_index("exact").build(np.zeros((2, 2), np.float32)).search(np.zeros((1, 2), np.float32), 1)
        # ^ loads faiss through the exact index (import cost is not part of the estimate)
    else:
        import skdim
    with open("/proc/self/clear_refs", "w") as f:   # reset VmHWM to the current RSS
        f.write("5")
    base = _rss_kb("VmRSS")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "floor":
            n, block = len(X), 2048
            for i in range(0, n, block):
                for j in range(i, n, block):
                    X[i:i + block] @ Xt[:, j:j + block]
            values = (float("nan"), float("nan"))
        elif method == "ours":
            res = knn(X, 20)
            values = (mle(res, 20), twonn(res))
        else:
            values = (float(skdim.id.MLE().fit(X).dimension_), float(skdim.id.TwoNN().fit(X).dimension_))
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "peak_mb": (_rss_kb("VmHWM") - base) / 1024,
                      "mle": values[0], "twonn": values[1]}))


def run_child(method: str, npy: str, threads: int | None = None) -> dict:
    env = dict(ENV)
    if threads:  # the same limit for both sides: OpenMP (faiss, scikit-learn) and the BLAS pools
        env.update({v: str(threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    out = subprocess.run([sys.executable, __file__, "--child", method, npy], capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def minilm_vectors(data_root: Path, n: int) -> np.ndarray:
    from adapters.models.sentence_transformers import packaged_minilm
    from harness.cache import EmbeddingCache
    from harness.embedding import CachedModel
    texts: list[str] = []
    for name in ("banking77/train.jsonl", "emotion/train.jsonl"):
        with open(data_root / name, encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f if line.strip()]
    texts = list(dict.fromkeys(texts))[:n + 100]
    model = CachedModel(packaged_minilm(), EmbeddingCache(REPO / ".cache" / "embeddings"), progress=False)
    Z = model.encode(texts, role=None)
    # a few texts differ only in case and share a vector: skdim's MLE reads 0 on duplicates, so give
    # both sides the same distinct points
    _, first = np.unique(Z, axis=0, return_index=True)
    return Z[np.sort(first)[:n]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--n-minilm", type=int, default=20_000)
    ap.add_argument("--threads", type=int, default=None,
                    help="limit both sides to this many threads (default: the libraries' own, all cores)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child)

    from harness.data import resolve_data_root
    from harness.io import load_npy, save_npy
    root = resolve_data_root()
    if root is None:
        sys.exit("needs the shared data root (../shared/data or HARNESS_DATA)")
    sets = {"w2v 13,013x300": load_npy(root / "w2v_googlenews_wefe_subset" / "vectors.npy", "w2v vectors")}
    Z = minilm_vectors(root, args.n_minilm)
    sets[f"MiniLM {len(Z):,}x{Z.shape[1]}"] = Z
    print(f"cpu cores: {os.cpu_count()}, threads per side: {args.threads or 'library default'}, "
          f"load average at start: {os.getloadavg()[0]:.2f}; best of {args.repeat}")
    header = (f"{'data':<20} {'ours s':>7} {'skdim s':>8} {'speed-up':>8} {'floor s':>7} {'max':>6} "
              f"{'ours MB':>8} {'skdim MB':>9} "
              f"{'MLE ours':>11} {'MLE skdim':>11} {'rel':>8} {'TwoNN ours':>11} {'TwoNN skdim':>11} {'rel':>8}")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for label, X in sets.items():
            npy = str(Path(tmp) / "x.npy")
            save_npy(npy, np.ascontiguousarray(X, dtype=np.float32))
            runs = {m: [run_child(m, npy, args.threads) for _ in range(args.repeat)]
                    for m in ("ours", "skdim", "floor")}
            best = {m: min(r, key=lambda x: x["seconds"]) for m, r in runs.items()}
            peak = {m: max(x["peak_mb"] for x in r) for m, r in runs.items()}
            o, s, f = best["ours"], best["skdim"], best["floor"]
            print(f"{label:<20} {o['seconds']:>7.2f} {s['seconds']:>8.2f} {s['seconds'] / o['seconds']:>7.1f}x "
                  f"{f['seconds']:>7.2f} {s['seconds'] / f['seconds']:>5.1f}x "
                  f"{peak['ours']:>8.0f} {peak['skdim']:>9.0f} {o['mle']:>11.5f} {s['mle']:>11.5f} "
                  f"{abs(o['mle'] / s['mle'] - 1):>8.1e} {o['twonn']:>11.5f} {s['twonn']:>11.5f} "
                  f"{abs(o['twonn'] / s['twonn'] - 1):>8.1e}", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
