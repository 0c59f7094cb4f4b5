"""Batches that make a text's vector depend on the text alone (sentence-transformers adapter).

sentence-transformers sorts texts by character length and pads each batch to its longest member,
so a vector's last bits depend on which texts shared its batch, and therefore on what the
embedding cache already held. Measured with CPU torch 2.13 and all-MiniLM-L6-v2
(bench/encode_batching.py): padding changes a vector (up to 1.4e-7 per component); at one exact
token length, every batch size and position gives the same bits, except a batch of fewer than 12
tokens in all (one short text alone) on 2 threads, where the matrix products take another path.

The rule: texts are grouped by their exact token count, so no batch is ever padded; a group is cut
into batches of at most `max_rows` texts, and a batch with fewer than `min_tokens` tokens in all is
filled up with copies of its own texts, so every matrix product has enough rows to take the common
path. Which texts share a batch then changes nothing in a text's vector.

Nor does the number of threads: by default MKL splits a matrix product differently on 1 and 2 threads, and
27% of SciFact's query vectors differed in their last bits (up to 1.8e-7) between a 1-thread encode (a Dask
worker) and a 2-thread one (a run in one process). MKL's conditional numerical reproducibility in strict mode
(`MKL_CBWR=AUTO,STRICT`, set before the first matrix product) makes them identical (measured on the same 300
queries: 100% of rows bit-equal), so a corpus encoded in shards by many 1-thread workers is byte-identical
to one encoded in one process. The mode in force is part of the rule recorded in the meta.
"""
from __future__ import annotations

import os

import numpy as np

RULE = "exact-length-v1"   # recorded in the model meta: a different rule may change vectors' last bits
MKL_MODE = "AUTO,STRICT"   # MKL_CBWR: products bit-identical whatever the thread count


def batching_rule() -> str:
    """The rule recorded in the meta: exact-length batches, plus MKL's reproducibility mode, set here (before
    torch's first product in this process) unless the user chose one."""
    os.environ.setdefault("MKL_CBWR", MKL_MODE)
    return f"{RULE}+mkl-cbwr:{os.environ['MKL_CBWR']}"
MIN_TOKENS = 64            # 5x the 12 tokens below which this machine's products took another path


def plan_batches(lengths, *, max_rows: int, min_tokens: int = MIN_TOKENS) -> list[tuple[np.ndarray, int]]:
    """[(row indices, rows to fill)] covering every text once; a batch holds one token length only.

    Groups are visited longest first (the memory peak comes first, as in sentence-transformers) and
    each group is cut into near-equal batches of at most `max_rows`. `rows to fill` copies bring a
    short batch up to `min_tokens` tokens."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if max_rows < 1:
        raise ValueError(f"batch size must be at least 1, got {max_rows}")
    plan = []
    for length in np.unique(lengths)[::-1]:
        rows = np.flatnonzero(lengths == length)
        for part in np.array_split(rows, -(-len(rows) // max_rows)):
            want = -(-min_tokens // max(int(length), 1))
            plan.append((part, max(0, want - len(part))))
    return plan


def token_counts(model, texts: list[str], prompt: str | None, step: int = 256) -> np.ndarray:
    """Tokens per text as the model sees it alone (prompt and special tokens in, truncation applied):
    the attention mask of the model's own preprocessing, in padded chunks of `step` texts."""
    counts = []
    for s in range(0, len(texts), step):
        features = model.preprocess(texts[s:s + step], prompt=prompt)
        counts.append(features["attention_mask"].sum(dim=1).numpy())
    return np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)


def encode_batched(model, texts: list[str], *, prompt: str | None, max_rows: int) -> np.ndarray:
    """float32 (n, d): `model.encode` run batch by batch on the plan above."""
    if prompt is None and getattr(model, "default_prompt_name", None):  # what encode() would prepend
        prompt = model.prompts.get(model.default_prompt_name)
    out = None
    for rows, fill in plan_batches(token_counts(model, texts, prompt), max_rows=max_rows):
        batch = [texts[i] for i in rows]
        batch += [batch[i % len(batch)] for i in range(fill)]
        vecs = model.encode(batch, batch_size=len(batch), prompt=prompt, convert_to_numpy=True,
                            show_progress_bar=False)
        if out is None:
            out = np.empty((len(texts), vecs.shape[1]), dtype=np.float32)
        out[rows] = vecs[:len(rows)]
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)
