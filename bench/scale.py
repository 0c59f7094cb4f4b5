#!/usr/bin/env python3
"""Search at a million rows: the harness against raw faiss, every measurement in its own fresh process.

Data: `--n` x `--dim` float32 rows (rank-64 Gaussian factors times a fixed basis plus 0.3 noise, L2-normalised)
and `--queries` rows of the same distribution, seeded, written block by block into .npy files under
`--workdir` (open_memmap: never the whole matrix in memory); reused while their parameters match, deleted
at the end unless `--keep`; read through once, untimed, so every process finds them in the page cache.

Sections (`--only`), each table row one fresh process (so every peak is that measurement's own):
- exact: raw faiss (np.load, IndexFlatIP.add, search k=10) against the harness (make_index("exact") built on
  np.load(..., mmap_mode="r"), search with max_memory_mb=--max-memory). PASS/FAIL: harness / raw time <= 1.1
  (search, and load+build+search); harness peak anonymous RSS <= 1.5 GiB; ids equal IndexFlatIP's (rows
  differing only among exactly equal distances, ties at float precision, are counted apart).
- ann: faiss IVF-Flat through the harness against raw faiss doing the same (training sample, k-means seed,
  nlist, nprobe, threads): time ratios, recall@10 of both against IndexFlatIP's ids (PASS when equal).
- encode: encoding throughput of `--encode-texts` synthetic texts with the packaged model, in one process
  and sharded over 1 and 2 Dask workers (bench/encode_shards.py; PASS when the vectors are byte-identical).

Memory, from /proc/self/status: `peak RSS` = VmHWM (exact); `anon pk` / `file pk` = the highest RssAnon
(heap: numpy / faiss buffers) / RssFile (file pages: the memmapped corpus, libraries) a thread saw sampling
every 20 ms (a shorter spike can be missed). `search anon peak (exact)`: VmHWM is reset (clear_refs = 5)
just before the search; VmHWM - RssFile after it is the anonymous peak during it, exact while the file
pages stay resident (the build read every row; RssFile before -> after is printed). Times: wall clock, best
of `--repeats` processes (order alternating), process CPU beside it. faiss and its OpenMP OpenBLAS run
`--threads` threads on both sides: 1 by default (2 threads on a busy 2-core machine spin-wait).

    .venv/bin/python bench/scale.py [--n 1000000] [--dim 384] [--queries 1000] [--max-memory 1024]
        [--workdir /tmp/harness-scale] [--keep] [--only exact|ann|encode] [--encode-texts 2000] [--repeats 3] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

K = 10
RANK, NOISE, BLOCK = 64, 0.3, 65536   # generation block: fixed, so the seeded streams give the same rows
ANON_LIMIT_MB, RATIO_LIMIT = 1536, 1.1
GIB = 2**30


# -- data -------------------------------------------------------------------------------------------------
def make_data(a) -> str:
    """Write corpus.npy / queries.npy under the workdir (or keep matching ones); returns what was done."""
    wd = Path(a.workdir)
    wd.mkdir(parents=True, exist_ok=True)
    meta = {"n": a.n, "dim": a.dim, "queries": a.queries, "seed": a.seed, "rank": RANK, "noise": NOISE, "block": BLOCK}
    meta_path = wd / "data.json"
    if meta_path.exists() and json.loads(meta_path.read_text()) == meta and all(
            (wd / f).exists() for f in ("corpus.npy", "queries.npy")):
        return "reused"
    meta_path.unlink(missing_ok=True)   # written last: a half-written corpus is never reused
    t0 = time.perf_counter()
    basis = np.random.default_rng([a.seed, 0]).standard_normal((RANK, a.dim)).astype(np.float32) / np.sqrt(RANK)
    _write_rows(wd / "corpus.npy", a.n, basis, np.random.default_rng([a.seed, 1]))
    _write_rows(wd / "queries.npy", a.queries, basis, np.random.default_rng([a.seed, 2]))
    meta_path.write_text(json.dumps(meta))
    return f"generated in {time.perf_counter() - t0:.1f} s"


def _write_rows(path: Path, n: int, basis: np.ndarray, rng) -> None:
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, basis.shape[1]))
    for s in range(0, n, BLOCK):
        b = min(BLOCK, n - s)
        x = rng.standard_normal((b, RANK), dtype=np.float32) @ basis
        x += NOISE * rng.standard_normal(x.shape, dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[s:s + b] = x
    out.flush()
    del out


def prewarm(path: Path) -> float:
    """Read the file once (16 MiB at a time) so the measured processes find it in the page cache."""
    t0, buf = time.perf_counter(), bytearray(16 * 2**20)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass
    return time.perf_counter() - t0


# -- measuring inside a worker process --------------------------------------------------------------------
def proc_status() -> dict:
    """VmHWM, VmRSS, RssAnon, RssFile, RssShmem of this process, in MiB."""
    with open("/proc/self/status") as f:
        pairs = [line.split(":", 1) for line in f]
    return {k: int(v.split()[0]) / 1024 for k, v in pairs if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem")}


class Probe(threading.Thread):
    """Samples /proc/self/status every 20 ms: the peaks of RssAnon, RssFile, and VmHWM across resets."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.done = dict.fromkeys(("RssAnon", "RssFile", "VmHWM"), 0.0), threading.Event()
        self.start()

    def run(self):
        while not self.done.wait(0.02):
            self.sample()

    def sample(self) -> dict:
        s = proc_status()
        self.peak = {key: max(v, s[key]) for key, v in self.peak.items()}
        return s

    def finish(self) -> dict:
        self.done.set()
        self.join()
        self.sample()
        return {"peak_rss_mb": self.peak["VmHWM"], "anon_peak_mb": self.peak["RssAnon"], "file_peak_mb": self.peak["RssFile"]}


class Phases(dict):
    """phase -> [wall s, process CPU s] since the previous mark; `restart()` leaves untimed work out."""

    def __init__(self):
        super().__init__()
        self.restart()

    def restart(self) -> None:
        self.t = np.array([time.perf_counter(), time.process_time()])

    def mark(self, name: str) -> None:
        t0 = self.t
        self.restart()
        self[name] = (self.t - t0).tolist()


def w_exact_raw(cfg, x, q, probe, ph):
    import faiss
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    ph.mark("build")
    d, i = index.search(q, K)
    ph.mark("search")
    return i, -d, {}   # harness convention: smaller is closer (an exact sign flip)


def w_exact_harness(cfg, x, q, probe, ph):
    from harness.registry import make_index
    index = make_index("exact").build(x)
    ph.mark("build")
    before = probe.sample()   # keeps the peak so far; then the kernel's VmHWM restarts from the current RSS
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    ph.restart()   # the reset is not timed
    ids, dist = index.search(q, K, max_memory_mb=cfg["max_memory"])
    ph.mark("search")
    after = proc_status()
    return ids, dist, {"search_anon_mb": after["VmHWM"] - min(before["RssFile"], after["RssFile"]) - after["RssShmem"],
                       "file_before_mb": before["RssFile"], "file_after_mb": after["RssFile"]}


def _best_of_3(ph, search):
    """Best of 3 calls (a fast ANN search: one call is within timer noise); returns the last result."""
    best = None
    for _ in range(3):
        ph.restart()
        out = search()
        ph.mark("search")
        best = np.minimum(ph["search"] if best is None else best, ph["search"]).tolist()
    ph["search"] = best
    return out


def w_ivf_raw(cfg, x, q, probe, ph):
    import faiss
    p = cfg["ivf"]
    rows = np.sort(np.random.default_rng(p["seed"]).choice(len(x), p["train_size"], replace=False))
    train = x if p["train_size"] >= len(x) else x[rows]   # the adapter's sample: same seed, same rows
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(x.shape[1]), x.shape[1], p["nlist"], faiss.METRIC_INNER_PRODUCT)
    ivf.cp.seed, ivf.cp.min_points_per_centroid = p["seed"], 0   # as the adapter (0 only silences a warning)
    ivf.train(train)
    ivf.add(x)
    ph.mark("build")
    params = faiss.SearchParametersIVF(nprobe=p["nprobe"])
    d, i = _best_of_3(ph, lambda: ivf.search(q, K, params=params))
    return i, -d, {}


def w_ivf_harness(cfg, x, q, probe, ph):
    from harness.registry import make_index
    p = cfg["ivf"]
    index = make_index("faiss-ivf-flat", nlist=p["nlist"], seed=p["seed"], train_size=p["train_size"],
                       omp_threads=p["threads"]).build(x)
    ph.mark("build")
    return (*_best_of_3(ph, lambda: index.search(q, K, nprobe=p["nprobe"], omp_threads=p["threads"])), {})


WORKERS = {"exact-raw": w_exact_raw, "exact-harness": w_exact_harness, "ivf-raw": w_ivf_raw,
           "ivf-harness": w_ivf_harness}


def worker(name: str, cfg: dict) -> None:
    """Runs in its own process: load (the whole array for raw flat, else a memmap), build, search; saves the
    ids and distances for the parent and prints phase times and memory as one JSON line."""
    import faiss
    faiss.omp_set_num_threads(cfg["threads"])   # OpenMP, and OpenBLAS's OpenMP build that faiss ships
    probe, ph, wd = Probe(), Phases(), Path(cfg["workdir"])
    x = np.load(wd / "corpus.npy", mmap_mode=None if name == "exact-raw" else "r")
    q = np.load(wd / "queries.npy")
    ph.mark("load")
    ids, dist, extra = WORKERS[name](cfg, x, q, probe, ph)
    for what, arr in (("ids", ids), ("dist", dist)):
        np.save(wd / f"out-{name}-{what}.npy", arr)
    print(json.dumps({**ph, **extra, **probe.finish()}))


# -- the parent: runs workers, compares, prints ------------------------------------------------------------
def run_worker(name: str, cfg: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", name, "--config", json.dumps(cfg)], cwd=REPO,
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    if out.returncode != 0:
        raise SystemExit(f"worker {name} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(names, cfg, repeats: int) -> dict:
    """Each worker `repeats` times, order alternating; best time per phase and clock, highest memory."""
    runs = {n: [] for n in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            runs[name].append(run_worker(name, cfg))
    best = {}
    for name, rs in runs.items():
        best[name] = {k: (np.min(np.array([x[k] for x in rs]), axis=0) if k in ("load", "build", "search")
                          else max(x[k] for x in rs)) for k in rs[0]}
        best[name]["total"] = best[name]["load"] + best[name]["build"] + best[name]["search"]
    return best


def outputs(cfg, name):
    return tuple(np.load(Path(cfg["workdir"]) / f"out-{name}-{what}.npy") for what in ("ids", "dist"))


def compare(ids_a, d_a, ids_b, d_b) -> tuple[int, int, int, float]:
    """(rows equal, rows differing only among equal distances, rows differing otherwise, max |distance diff|).
    A tie row: the same distances position by position, and at each distance value but the k-th the same
    set of ids (at the k-th, either list may hold any of the ids tied there)."""
    same = (ids_a == ids_b).all(axis=1)
    ties = 0
    for r in np.flatnonzero(~same):
        if np.array_equal(d_a[r], d_b[r]) and all(
                set(ids_a[r][d_a[r] == v]) == set(ids_b[r][d_b[r] == v]) for v in np.unique(d_a[r]) if v != d_a[r][-1]):
            ties += 1
    return int(same.sum()), ties, int((~same).sum()) - ties, float(np.abs(d_a - d_b).max())


def recall(ids, truth) -> float:
    return float(np.mean([len(set(a) & set(b)) / truth.shape[1] for a, b in zip(ids, truth)]))


def verdict(ok: bool, text: str) -> bool:
    print(f"{'PASS' if ok else 'FAIL'} {text}")
    return ok


PHASES = ("load", "build", "search", "total")


def print_table(title: str, raw: dict, ours: dict, extra: dict) -> dict:
    """One row per side (time: best wall clock; CPU: process CPU; memory in MiB) and the ours/raw ratios."""
    print(f"\n{title}\n{'side':<9}" + "".join(f"{h:>9}" for h in PHASES) + f"{'build CPU':>10}{'srch CPU':>9}"
          f" | {'peak RSS':>8} {'anon pk':>8} {'file pk':>8} MiB | " + extra.get("head", ""))
    for label, m in (("raw", raw), ("harness", ours)):
        print(f"{label:<9}" + "".join(f"{m[k][0]:8.3f}s" for k in PHASES) + f"{m['build'][1]:9.3f}s"
              f"{m['search'][1]:8.3f}s | {m['peak_rss_mb']:8.0f} {m['anon_peak_mb']:8.0f} {m['file_peak_mb']:8.0f}"
              f"     | {extra.get(label, '')}")
    ratios = {k: ours[k][0] / raw[k][0] if raw[k][0] > 1e-3 else None for k in PHASES}
    ratios.update({f"{k} CPU": ours[k][1] / raw[k][1] if raw[k][1] > 1e-3 else None for k in ("build", "search")})
    print(f"{'ours/raw':<9}" + "".join(f"{r:9.3f}" if r else f"{'-':>9}" for r in ratios.values()))
    return ratios


def exact_section(a, cfg) -> bool:
    m = measure(["exact-raw", "exact-harness"], cfg, a.repeats)
    raw, ours = m["exact-raw"], m["exact-harness"]
    r = print_table(f"exact search, k={K}, ip -- raw: np.load + faiss IndexFlatIP.add + search; harness: "
                    f"np.load(mmap_mode='r') + make_index('exact').build + search(max_memory_mb={cfg['max_memory']:g})",
                    raw, ours, {"head": "search anon peak (exact)", "harness": f"{ours['search_anon_mb']:.0f} MiB "
                                f"(RssFile {ours['file_before_mb']:.0f} -> {ours['file_after_mb']:.0f} MiB)"})
    eq, ties, other, dmax = compare(*outputs(cfg, "exact-harness"), *outputs(cfg, "exact-raw"))
    print(f"ids vs IndexFlatIP: {eq}/{eq + ties + other} rows equal, {ties} differ only among tied distances, "
          f"{other} differ otherwise; max |distance difference| {dmax:.3g}")
    anon = max(ours["anon_peak_mb"], ours["search_anon_mb"])
    cpu = f"(process CPU: {r['search CPU']:.3f})"
    return all([verdict(r["search"] <= RATIO_LIMIT, f"exact search time ours/raw {r['search']:.3f} <= {RATIO_LIMIT} {cpu}"),
                verdict(r["total"] <= RATIO_LIMIT, f"exact load+build+search time ours/raw {r['total']:.3f} <= "
                        f"{RATIO_LIMIT}"),
                verdict(anon <= ANON_LIMIT_MB, f"harness exact peak anonymous RSS {anon:.0f} MiB <= {ANON_LIMIT_MB} MiB"),
                verdict(other == 0, f"harness exact ids equal IndexFlatIP's ({other} rows differ beyond ties)")])


def ann_section(a, cfg) -> bool:
    p = cfg["ivf"]
    truth_file = Path(cfg["workdir"]) / "out-exact-raw-ids.npy"
    if not truth_file.exists():   # --only ann: the exact ground truth still comes from raw IndexFlatIP
        run_worker("exact-raw", cfg)
    truth = np.load(truth_file)
    m = measure(["ivf-raw", "ivf-harness"], cfg, a.repeats)
    (ids_r, d_r), (ids_o, d_o) = outputs(cfg, "ivf-raw"), outputs(cfg, "ivf-harness")
    rec_r, rec_o = recall(ids_r, truth), recall(ids_o, truth)
    print_table(f"ANN: faiss IVF-Flat on the memmap, nlist={p['nlist']}, nprobe={p['nprobe']}, trained on "
                f"{p['train_size']:,} sampled rows (seed {p['seed']}), {p['threads']} thread(s); search: best of 3 calls",
                m["ivf-raw"], m["ivf-harness"], {"head": "recall@10 vs IndexFlatIP", "raw": f"{rec_r:.4f}",
                                                 "harness": f"{rec_o:.4f}"})
    eq, ties, other, _ = compare(ids_o, d_o, ids_r, d_r)
    print(f"ids harness vs raw IVF: {eq}/{eq + ties + other} rows equal, {ties} differ only among tied distances, "
          f"{other} differ otherwise")
    return verdict(rec_o == rec_r, f"IVF-Flat recall@10 ours {rec_o:.4f} == raw {rec_r:.4f}")


def encode_section(a, cfg) -> bool:
    """Encoding throughput, 1 and 2 Dask workers against one process: bench/encode_shards.py, in its own process."""
    if a.encode_texts <= 0:
        print("\nencoding throughput: skipped (--encode-texts 0)")
        return True
    print(f"\nencoding throughput (bench/encode_shards.py, {a.encode_texts:,} synthetic texts):", flush=True)
    return subprocess.run([sys.executable, str(REPO / "bench" / "encode_shards.py"), "--texts",
                           str(a.encode_texts)], cwd=REPO).returncode == 0


# Sections run in this order; `--only` picks one.
SECTIONS = {"exact": exact_section, "ann": ann_section, "encode": encode_section}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag, kind, default, text in (
            ("--n", int, 1_000_000, "corpus rows"), ("--dim", int, 384, None), ("--queries", int, 1000, None),
            ("--max-memory", float, 1024, "exact search's max_memory_mb"), ("--workdir", str, "/tmp/harness-scale", None),
            ("--repeats", int, 3, "processes per measurement, order alternating (best time kept)"),
            ("--threads", int, 1, "faiss / OpenBLAS threads, both sides"),
            ("--nlist", int, 1024, "IVF lists (at most n/64: a small --n gets fewer)"), ("--nprobe", int, 16, None),
            ("--seed", int, 0, "data seed"),
            ("--encode-texts", int, 2000, "synthetic texts for the encoding section (0: skip it)"), ("--worker", str, None, argparse.SUPPRESS),
            ("--config", str, None, argparse.SUPPRESS)):
        ap.add_argument(flag, type=kind, default=default, help=text)
    ap.add_argument("--keep", action="store_true", help="keep the generated .npy files for the next run")
    ap.add_argument("--only", choices=list(SECTIONS), default=None, help="one section (default: all)")
    a = ap.parse_args()
    if a.worker:
        worker(a.worker, json.loads(a.config))
        return 0
    import faiss
    nlist = max(1, min(a.nlist, a.n // 64))
    cfg = {"workdir": str(Path(a.workdir).resolve()), "max_memory": a.max_memory, "threads": a.threads,
           "ivf": {"nlist": nlist, "nprobe": min(a.nprobe, nlist), "train_size": min(a.n, 64 * nlist), "seed": 1234,
                   "threads": a.threads}}
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"scale: corpus {a.n:,} x {a.dim} float32 ({a.n * a.dim * 4 / GIB:.2f} GiB), {a.queries:,} queries, "
          f"k={K}; faiss {faiss.__version__}, {a.threads} thread(s); load average {load} on {os.cpu_count()} cores")
    made = make_data(a)
    print(f"data: {made} in {cfg['workdir']} (rank-{RANK} factors + {NOISE} noise, L2-normalised, seed {a.seed}); "
          f"page cache warmed in {prewarm(Path(cfg['workdir']) / 'corpus.npy'):.1f} s")
    ok, wd = True, Path(cfg["workdir"])
    for f in wd.glob("out-*.npy"):   # a killed run's outputs: never taken for this run's
        f.unlink()
    try:
        for name, section in SECTIONS.items():
            if a.only in (None, name):
                ok = section(a, cfg) and ok
    finally:
        for f in wd.glob("out-*.npy"):
            f.unlink()
        if not a.keep:
            for f in ("corpus.npy", "queries.npy", "data.json"):
                (wd / f).unlink(missing_ok=True)
            if not any(wd.iterdir()):
                shutil.rmtree(wd)
    print(f"\n{'all PASS' if ok else 'some FAIL'}; load average now "
          + "/".join(f"{x:.1f}" for x in os.getloadavg()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
