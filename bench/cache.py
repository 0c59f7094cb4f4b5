"""Cold vs warm embedding cache: `run.py run --tasks STSBenchmark,SICK-R` as whole processes.

1. cold: empty cache, empty results (encodes every sentence);
2. warm: same cache, `--overwrite` (every job recomputed, vectors from the cache);
3. resume: same cache and results (every job skipped by job_key).
Warm and resume run `--repeat` times (default 3) and report the fastest, so a busy machine's noise
does not decide the ratio. Prints each wall time (imports included) and the cold/warm ratio (goal
>= 20x). `--keep DIR` keeps the results and cache there (to profile a warm run afterwards).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import PY, timed


def _runs(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="STSBenchmark,SICK-R")
    ap.add_argument("--repeat", type=int, default=3, help="warm and resume runs each (the fastest counts)")
    ap.add_argument("--keep", metavar="DIR", help="use and keep this folder instead of a temporary one")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(args.keep or tmp)
        base = [PY, "run.py", "run", "--tasks", args.tasks, "--results", str(tmp / "results"),
                "--cache-dir", str(tmp / "cache"), "--no-progress"]
        cold, _, out = timed(base)
        warm = [timed(base + ["--overwrite"])[0] for _ in range(args.repeat)]
        resume = [timed(base)[0] for _ in range(args.repeat)]
        print(out)
        print(f"tasks {args.tasks}")
        print(f"cold   (encode everything)        {cold:8.2f} s")
        print(f"warm   (--overwrite, cached vecs) {min(warm):8.2f} s  (runs: {_runs(warm)})")
        print(f"resume (jobs skipped by job_key)  {min(resume):8.2f} s  (runs: {_runs(resume)})")
        print(f"cold/warm ratio   {cold / min(warm):6.1f}x  (goal >= 20x)")
        print(f"cold/resume ratio {cold / min(resume):6.1f}x")


if __name__ == "__main__":
    main()
