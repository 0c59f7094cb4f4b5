"""Cold vs warm embedding cache: `run.py run --tasks STSBenchmark,SICK-R` three times.

1. cold: empty cache, empty results (encodes every sentence);
2. warm: same cache, `--overwrite` (every job recomputed, vectors from the cache);
3. resume: same cache and results (every job skipped by job_key).
Prints each wall time (whole process, imports included) and the cold/warm ratio (goal >= 20x).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import PY, timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", default="STSBenchmark,SICK-R")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = [PY, "run.py", "run", "--tasks", args.tasks, "--results", str(tmp / "results"),
                "--cache-dir", str(tmp / "cache"), "--no-progress"]
        cold, _, out = timed(base)
        warm, _, _ = timed(base + ["--overwrite"])
        resume, _, _ = timed(base)
        print(out)
        print(f"tasks {args.tasks}")
        print(f"cold   (encode everything)        {cold:8.2f} s")
        print(f"warm   (--overwrite, cached vecs) {warm:8.2f} s")
        print(f"resume (jobs skipped by job_key)  {resume:8.2f} s")
        print(f"cold/warm ratio   {cold / warm:6.1f}x  (goal >= 20x)")
        print(f"cold/resume ratio {cold / resume:6.1f}x")


if __name__ == "__main__":
    main()
