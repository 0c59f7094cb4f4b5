"""Our WEAT (effect size + permutation p-value) vs WEFE 1.0.1's `WEAT().run_query(...,
calculate_p_value=True)`, same vectors (cbn GloVe items, float64) and word sets (Caliskan's), same
number of iterations (10,000), one run. Prints per test both times, the ratio (goal >= 5,000x) and
both effect sizes (WEFE's uses ddof=0; ours is shown with ddof=0 and ddof=1), then our 100,000-sample
p-value time for every test (goal < 0.1 s each).

WEFE pins numpy<=1.26.4 and scipy<1.13, so it cannot live in the project environment: this script
makes an isolated venv for it (default `.cache/wefe-venv`, outside version control; ~20-80 s to
install, once) and runs WEFE there in a child process (this file in `--worker` mode).
WEFE needs 100-420 s per test at 10,000 iterations, so only WEAT 6 and 9 run against it by default;
`--tests 1,2,...` or `--all` for more.

Usage: .venv/bin/python bench/weat_vs_wefe.py [--tests 6,9 | --all] [--iterations 10000] [--venv DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WEFE_SPEC = "wefe==1.0.1"


# ------------------------------------------------------------------ worker (runs inside the WEFE venv)
def worker(spec_path: str) -> None:
    import numpy as np
    from gensim.models import KeyedVectors
    from wefe.metrics import WEAT
    from wefe.query import Query
    from wefe.word_embedding_model import WordEmbeddingModel

    spec = json.loads(Path(spec_path).read_text())
    data = np.load(spec["vectors"], allow_pickle=False)
    words = Path(spec["words"]).read_text(encoding="utf-8").splitlines()
    kv = KeyedVectors(vector_size=data.shape[1], dtype=np.float64)  # keep float64, as ours
    kv.add_vectors(words, data)
    model = WordEmbeddingModel(kv, "glove-cbn-items")
    out = {}
    for name, sets in spec["tests"].items():
        query = Query([sets["X"], sets["Y"]], [sets["A"], sets["B"]], ["X", "Y"], ["A", "B"])
        t0, c0 = time.perf_counter(), time.process_time()
        res = WEAT().run_query(query, model, return_effect_size=True, calculate_p_value=True,
                               p_value_iterations=spec["iterations"])
        out[name] = {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                     "effect_size": float(res["effect_size"]), "weat": float(res["weat"]),
                     "p_value": float(res["p_value"])}
        print(json.dumps({name: out[name]}), file=sys.stderr, flush=True)  # progress
    print(json.dumps(out))


# ----------------------------------------------------------------------------------- the benchmark
def ensure_wefe_venv(venv: Path) -> Path:
    py = venv / "bin" / "python"
    check = [str(py), "-c", "import wefe, gensim; print(wefe.__version__)"]
    if py.is_file() and subprocess.run(check, capture_output=True, text=True).stdout.strip() == "1.0.1":
        print(f"WEFE venv: {venv} (reused)")
        return py
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", WEFE_SPEC], check=True)
    print(f"WEFE venv: {venv} (created, {WEFE_SPEC} installed in {time.perf_counter() - t0:.0f} s)")
    return py


def best_time(fn, repeats: int) -> tuple[float, float, object]:
    """Best wall and best CPU seconds (all threads of this process) over `repeats` calls, and the output."""
    wall = cpu = float("inf")
    out = None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return wall, cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tests", default="6,9", help="WEAT numbers to run against WEFE (default 6,9)")
    ap.add_argument("--all", action="store_true", help="all of WEAT 1-10 against WEFE (20-40 minutes)")
    ap.add_argument("--iterations", type=int, default=10_000)
    ap.add_argument("--venv", default=str(REPO / ".cache" / "wefe-venv"))
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np

    from harness.data import resolve_data_root
    from tasks.metrics.bias import weat
    from tasks.weat import load_cbn_tests

    root = resolve_data_root(args.data_root)
    if root is None:
        raise SystemExit("no data root: pass --data-root (needs cbn_weat_glove/)")
    folder = root / "cbn_weat_glove"
    vectors = np.load(folder / "item_vectors.npy", allow_pickle=False)
    words = (folder / "item_vectors_words.txt").read_text(encoding="utf-8").splitlines()
    row = {w: i for i, w in enumerate(words)}
    _, tests = load_cbn_tests(folder)
    sets = {name: {r: t[r][1] for r in ("X", "Y", "A", "B")} for name, t in tests.items()}
    vecs = {name: [vectors[[row[w] for w in s[r]]] for r in ("X", "Y", "A", "B")] for name, s in sets.items()}
    chosen = list(tests) if args.all else [f"WEAT{int(t)}" for t in args.tests.split(",") if t.strip()]

    # Ours: effect size + p-value at the same iterations, best of 5 (each call does everything from vectors).
    ours = {}
    for name in tests:
        t_it, c_it, res = best_time(lambda: weat(*vecs[name], n_samples=args.iterations), 5)
        t_1e5, c_1e5, res5 = best_time(lambda: weat(*vecs[name], n_samples=100_000), 5)
        d0 = weat(*vecs[name], ddof=0, p_value=False).effect_size
        ours[name] = {"seconds": t_it, "cpu": c_it, "res": res, "seconds_1e5": t_1e5, "cpu_1e5": c_1e5,
                      "res_1e5": res5, "d0": d0}

    py = ensure_wefe_venv(Path(args.venv))
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.json"
        spec.write_text(json.dumps({"vectors": str(folder / "item_vectors.npy"),
                                    "words": str(folder / "item_vectors_words.txt"),
                                    "iterations": args.iterations, "tests": {n: sets[n] for n in chosen}}))
        print(f"running WEFE 1.0.1 on {', '.join(chosen)} at {args.iterations} iterations ...", flush=True)
        proc = subprocess.run([str(py), __file__, "--worker", str(spec)], capture_output=True, text=True,
                              env=dict(os.environ, PYTHONWARNINGS="ignore"))
        if proc.returncode != 0:
            raise SystemExit(f"WEFE worker failed:\n{proc.stderr[-3000:]}")
        wefe = json.loads(proc.stdout.strip().splitlines()[-1])

    print(f"\nWEAT on cbn GloVe 840B item vectors (float64), {args.iterations} iterations, {os.cpu_count()} cores")
    print("times: wall seconds, and CPU seconds (robust when other jobs share the cores); ratio = WEFE / ours")
    print(f"{'test':7s} {'WEFE wall':>9s} {'WEFE cpu':>9s} {'ours wall':>9s} {'ours cpu':>9s} {'ratio wall':>10s} "
          f"{'ratio cpu':>10s}  {'WEFE d(ddof0)':>13s} {'ours d(ddof0)':>13s} {'ours d(ddof1)':>13s}  "
          f"{'WEFE p':>8s} {'ours p':>9s} {'ours method':>11s}")
    ratios = []
    for name in chosen:
        w, o = wefe[name], ours[name]
        r_wall, r_cpu = w["seconds"] / o["seconds"], w["cpu"] / max(o["cpu"], 1e-9)
        ratios.append((r_wall, r_cpu))
        print(f"{name:7s} {w['seconds']:9.2f} {w['cpu']:9.2f} {o['seconds']:9.5f} {o['cpu']:9.5f} {r_wall:9.0f}x "
              f"{r_cpu:9.0f}x  {w['effect_size']:13.6f} {o['d0']:13.6f} {o['res'].effect_size:13.6f}  "
              f"{w['p_value']:8.2g} {o['res'].p_value:9.3g} {o['res'].p_method:>11s}")
    print(f"ratio WEFE/ours: wall min {min(r[0] for r in ratios):.0f}x, CPU min {min(r[1] for r in ratios):.0f}x "
          f"(goal >= 5,000x); max |ours d(ddof0) - WEFE d| = "
          f"{max(abs(wefe[n]['effect_size'] - ours[n]['d0']) for n in chosen):.2e}")
    print("(WEFE's p-value draws its 'permutations' with replacement and cannot be seeded, so p-values differ;"
          " methods.md §4.1)")

    print("\nours, 100,000-sample p-value (exact when C(2n,n) <= 100,000), effect size + p-value, best of 5:")
    for name, o in ours.items():
        r = o["res_1e5"]
        print(f"{name:7s} n={r.n_x:2d} {o['seconds_1e5'] * 1000:7.1f} ms wall {o['cpu_1e5'] * 1000:7.1f} ms CPU  "
              f"p={r.p_value:.3g} ({r.p_method})  d={r.effect_size:.6f}")
    worst = max(o["seconds_1e5"] for o in ours.values())
    worst_cpu = max(o["cpu_1e5"] for o in ours.values())
    print(f"slowest test: {worst * 1000:.1f} ms wall, {worst_cpu * 1000:.1f} ms CPU (goal < 100 ms)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
    else:
        main()
