"""Does a MiniLM vector depend on its batch? And what does batching by exact token count cost?

`bits`: the packaged all-MiniLM-L6-v2 encodes STSBenchmark sentences (a) alone, (b) in batches of
other sizes with texts of the same token length (no padding), (c) in padded batches; it prints how
many rows are bit-identical to the reference, then checks the adapter's rule
(adapters/models/st_batching.py): every text encoded alone and inside the whole list, in any order
and any chunking, must give the same bits.
`speed`: sentences/s of the old batching (sentence-transformers' own: sorted by characters,
batch 32, padded, in CachedModel's chunks of 512) against the adapter's, on STSBenchmark sentences
and SciFact corpus texts, alternating `--repeat` times; the fastest run of each counts.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.models.sentence_transformers import packaged_minilm  # noqa: E402
from adapters.models.st_batching import token_counts  # noqa: E402
from harness.data import resolve_data_root  # noqa: E402

CHUNK = 512  # texts per adapter call from CachedModel


def load_texts(root: Path, n_sts: int | None, n_scifact: int | None) -> dict[str, list[str]]:
    sts = []
    for line in open(root / "stsbenchmark" / "test.jsonl", encoding="utf-8"):
        r = json.loads(line)
        sts += [r["sentence1"], r["sentence2"]]
    docs = [json.loads(line) for line in open(root / "scifact" / "corpus.jsonl", encoding="utf-8")]
    sci = [(d.get("title", "") + " " + d.get("text", "")).strip() for d in docs]
    return {"STSBenchmark": list(dict.fromkeys(sts))[:n_sts], "SciFact corpus": list(dict.fromkeys(sci))[:n_scifact]}


def old_encode(st, texts: list[str]) -> np.ndarray:
    """The adapter before this change, as CachedModel fed it: longest first, chunks of 512, batch 32."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = np.empty((len(texts), st.get_embedding_dimension()), dtype=np.float32)
    for s in range(0, len(order), CHUNK):
        rows = order[s:s + CHUNK]
        out[rows] = st.encode([texts[i] for i in rows], batch_size=32, convert_to_numpy=True, show_progress_bar=False)
    return out


def new_encode(model, texts: list[str], chunk: int | None = CHUNK) -> np.ndarray:
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    step = chunk or len(order)
    out = np.empty((len(texts), model.meta["dim"]), dtype=np.float32)
    for s in range(0, len(order), step):
        rows = order[s:s + step]
        out[rows] = model.encode([texts[i] for i in rows])
    return out


def same_rows(a: np.ndarray, b: np.ndarray) -> str:
    d = np.abs(a - b)
    return f"bit-identical rows {int((d.max(axis=1) == 0).sum())}/{len(a)}, max |diff| {d.max():.2g}"


def bits(model, texts: list[str]) -> None:
    st = model.load()
    enc = lambda ts, bs: st.encode(ts, batch_size=bs, convert_to_numpy=True, show_progress_bar=False)  # noqa: E731
    by_len = collections.defaultdict(list)
    for t, n in zip(texts, token_counts(st, texts, None)):
        by_len[int(n)].append(t)
    length = max(by_len, key=lambda k: len(by_len[k]))
    group = by_len[length][:64]
    alone = np.stack([enc([t], 1)[0] for t in group])
    big = enc(group, 64)
    print(f"(a)/(b) {len(group)} texts of exactly {length} tokens (sentence-transformers' encode, 2 threads)")
    print(f"  batch 64 vs each alone:         {same_rows(big, alone)}")
    for bs in (2, 7, 16, 32):
        print(f"  batch {bs:2d} vs batch 64:          {same_rows(enc(group, bs), big)}")
    perm = np.random.default_rng(0).permutation(len(group))
    print(f"  batch 32 shuffled vs batch 64:  {same_rows(enc([group[i] for i in perm], 32)[np.argsort(perm)], big)}")
    alone_by_len = {}
    for n in sorted(by_len)[:12]:
        g = by_len[n][:8]
        a = np.stack([enc([t], 1)[0] for t in g])
        alone_by_len[n] = int((np.abs(a - enc(g + g, 16)[:len(g)]).max(axis=1) == 0).sum()), len(g)
    print("  one text alone vs in a batch of 16, per token length: "
          + ", ".join(f"{n}: {k}/{m}" for n, (k, m) in alone_by_len.items()))
    def padded_to(n: int) -> np.ndarray:   # each text in a batch of 2 with a text of n tokens
        return np.stack([enc([t, by_len[n][0]], 2)[0] for t in group])
    far = max(k for k in by_len if k <= length + 30)
    print("(c) padded batches")
    print(f"  padded by 1 token vs batch 64:   {same_rows(padded_to(length + 1), big)}")
    print(f"  padded to {far} tokens vs batch 64:  {same_rows(padded_to(far), big)}")
    print(f"  old batching (sorted by characters, batch 32) on all {len(texts)} texts vs the adapter's rule:")
    whole = new_encode(model, texts, None)
    print(f"    {same_rows(old_encode(st, texts), whole)}")
    print("the adapter's rule (exact-length batches, short batches filled up to 64 tokens):")
    sample = texts[:: max(1, len(texts) // 200)]
    idx = [texts.index(t) for t in sample]
    alone = np.stack([model.encode([t])[0] for t in sample])
    print(f"  {len(sample)} texts each alone vs whole list:   {same_rows(alone, whole[idx])}")
    rev = new_encode(model, texts[::-1], 300)[::-1]
    print(f"  reversed list in chunks of 300 vs whole list: {same_rows(rev, whole)}")
    print(f"  chunks of {CHUNK} (as CachedModel) vs whole list:  {same_rows(new_encode(model, texts), whole)}")
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        print(f"  1 thread vs {threads} threads, whole list:       {same_rows(new_encode(model, texts, None), whole)}")
    finally:
        torch.set_num_threads(threads)


def speed(model, sets: dict[str, list[str]], repeat: int) -> None:
    st = model.load()
    for name, texts in sets.items():
        if not texts:
            continue
        runs = {"old": [], "new": []}
        for _ in range(repeat):  # alternate, so a busy machine slows both alike
            for label, fn in (("old", lambda: old_encode(st, texts)), ("new", lambda: new_encode(model, texts))):
                t0 = time.perf_counter()
                fn()
                runs[label].append(time.perf_counter() - t0)
        old, new = min(runs["old"]), min(runs["new"])
        print(f"{name:15s} {len(texts):5d} texts  old {len(texts) / old:7.1f}/s  new {len(texts) / new:7.1f}/s  "
              f"new/old speed {old / new:.2f}x  (runs old {', '.join(f'{t:.1f}' for t in runs['old'])}; "
              f"new {', '.join(f'{t:.1f}' for t in runs['new'])} s)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=["bits", "speed", "both"], nargs="?", default="both")
    ap.add_argument("--data-root")
    ap.add_argument("--sts", type=int, help="first N STSBenchmark sentences (default: all 2,552)")
    ap.add_argument("--scifact", type=int, help="first N SciFact corpus texts (default: all 5,183; 0: none)")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    root = resolve_data_root(args.data_root)
    if root is None:
        raise SystemExit("needs the data root (--data-root or HARNESS_DATA) with stsbenchmark/ and scifact/")
    import torch
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    model = packaged_minilm()
    sets = load_texts(root, args.sts, args.scifact)
    if args.part in ("bits", "both"):
        bits(model, sets["STSBenchmark"])
    if args.part in ("speed", "both"):
        speed(model, sets, args.repeat)


if __name__ == "__main__":
    main()
