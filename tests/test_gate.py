"""`run.py gate` against baselines made from the fixture results (tests/fixtures/results)."""
from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import cli
from harness.gate import DEFAULT_RULES, compare, load_results, rule_for

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "results"
MINILM = "all-MiniLM-L6-v2"


@pytest.fixture
def dirs(tmp_path):
    """A baseline and a current results folder, both copies of the fixtures."""
    base, cur = tmp_path / "baseline", tmp_path / "current"
    shutil.copytree(FIXTURES, base)
    shutil.copytree(FIXTURES, cur)
    return base, cur


def edit(folder: Path, rel: str, fn) -> None:
    path = folder / rel
    obj = json.loads(path.read_text())
    fn(obj)
    path.write_text(json.dumps(obj, indent=2))


def gate(capsys, *args) -> tuple[int, str]:
    rc = cli.main(["gate", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out + out.err


def raise_main(delta: float):
    def fn(r):
        r["main_score"] += delta
        r["scores"][r["main_score_name"]] += delta
    return fn


def test_equal_baseline_passes(dirs, capsys):
    base, cur = dirs
    rc, out = gate(capsys, "--baseline", base, "--results", cur)
    assert rc == 0, out
    assert "gate: PASS: 23 job(s) compared" in out and "0 regression" in out


def test_raised_baseline_fails_and_names_the_job(dirs, capsys, tmp_path):
    base, cur = dirs
    tol = rule_for("sts", "cosine_spearman").tolerance
    assert tol == 0.001
    edit(base, f"{MINILM}/STSBenchmark.json", raise_main(tol + 0.0005))
    junit = tmp_path / "gate.xml"
    rc, out = gate(capsys, "--baseline", base, "--results", cur, "--junit", junit)
    assert rc == 1, out
    line = next(ln for ln in out.splitlines() if ln.startswith("REGRESSION"))
    assert MINILM in line and "STSBenchmark" in line and "cosine_spearman" in line and "-0.0015" in line
    assert "gate: FAIL" in out and "1 regression" in out
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "1" and suite.get("tests") == "22"   # 23 jobs, one failed in both
    failure = suite.find(".//failure")
    assert "STSBenchmark" in failure.get("message") and MINILM in failure.get("message")


def test_within_tolerance_passes_and_improvement_is_reported(dirs, capsys):
    base, cur = dirs
    edit(base, f"{MINILM}/STSBenchmark.json", raise_main(0.0009))       # inside 0.001
    edit(base, f"{MINILM}/SICK-R.json", raise_main(-0.01))              # current is better
    rc, out = gate(capsys, "--baseline", base, "--results", cur)
    assert rc == 0, out
    assert any(ln.startswith("IMPROVEMENT") and "SICK-R" in ln for ln in out.splitlines())
    assert "REGRESSION" not in out.split("gate:")[0]


def test_tolerance_options(dirs, capsys):
    base, cur = dirs
    edit(base, f"{MINILM}/STSBenchmark.json", raise_main(0.005))
    assert gate(capsys, "--baseline", base, "--results", cur)[0] == 1
    assert gate(capsys, "--baseline", base, "--results", cur, "--tolerance", "0.01")[0] == 0
    assert gate(capsys, "--baseline", base, "--results", cur, "--tolerance", "cosine_*=0.006")[0] == 0
    assert gate(capsys, "--baseline", base, "--results", cur, "--tolerance", "retrieval:cosine_*=0.006")[0] == 1
    rc, out = gate(capsys, "--baseline", base, "--results", cur, "--tolerance", "abc")
    assert rc == 2 and "expected a number" in out


def test_missing_and_new_jobs_are_reported(dirs, capsys):
    base, cur = dirs
    (cur / MINILM / "SciFact__hnswlib.json").unlink()
    shutil.copy(cur / MINILM / "SICK-R.json", cur / MINILM / "BIOSSES.json")
    edit(cur, f"{MINILM}/BIOSSES.json", lambda r: r.update(task="BIOSSES"))
    rc, out = gate(capsys, "--baseline", base, "--results", cur)
    assert rc == 0, out                                  # reported, not failing by default
    missing = next(ln for ln in out.splitlines() if ln.startswith("MISSING"))
    assert MINILM in missing and "SciFact" in missing and "hnswlib" in missing
    assert any(ln.startswith("NEW") and "BIOSSES" in ln for ln in out.splitlines())
    assert "1 missing" in out and "1 new" in out
    assert gate(capsys, "--baseline", base, "--results", cur, "--fail-on-missing")[0] == 1


def test_job_key_change_is_a_note_and_still_compared(dirs, capsys):
    base, cur = dirs

    def new_data(r):
        r["dataset"]["sha256"]["test.jsonl"] = "0" * 64
        r["job_key"] = "f" * 64
        raise_main(-0.02)(r)
    edit(cur, f"{MINILM}/STSBenchmark.json", new_data)
    rc, out = gate(capsys, "--baseline", base, "--results", cur)
    assert rc == 1
    assert "job key differs: dataset checksum of test.jsonl" in out
    assert any(ln.startswith("REGRESSION") and "STSBenchmark" in ln for ln in out.splitlines())


def test_all_scores_and_machine_metrics(dirs, capsys):
    base, cur = dirs
    edit(cur, f"{MINILM}/STSBenchmark.json", lambda r: r["scores"].update(manhattan_spearman=0.5))
    edit(cur, f"{MINILM}/SciFact__hnswlib.json", lambda r: r["scores"].update(qps=10.0))  # timing: not gated
    assert gate(capsys, "--baseline", base, "--results", cur)[0] == 0       # main scores only
    rc, out = gate(capsys, "--baseline", base, "--results", cur, "--all-scores")
    assert rc == 1
    regressions = [ln for ln in out.splitlines() if ln.startswith("REGRESSION")]
    assert len(regressions) == 1 and "manhattan_spearman" in regressions[0]
    assert rule_for("retrieval", "qps").tolerance is None


def test_descriptive_figures_fail_when_they_move_either_way(dirs, capsys):
    base, cur = dirs
    edit(cur, f"{MINILM}/IntrinsicDimension-SciFact.json", raise_main(+0.5))   # higher is not "better"
    rc, out = gate(capsys, "--baseline", base, "--results", cur)
    assert rc == 1
    assert any(ln.startswith("CHANGED") and "IntrinsicDimension-SciFact" in ln and "mle" in ln
               for ln in out.splitlines())


def test_failed_job_is_an_error(dirs, capsys):
    base, cur = dirs
    edit(cur, f"{MINILM}/Banking77Classification.json",
         lambda r: r.update(status="error", error="EmbeddingError: NaN", main_score=None, scores={}))
    rc, out = gate(capsys, "--baseline", base, "--results", cur)
    assert rc == 1
    assert any(ln.startswith("ERROR") and "Banking77Classification" in ln for ln in out.splitlines())


def test_baseline_as_one_file_or_a_list(dirs, capsys, tmp_path):
    base, cur = dirs
    one = base / MINILM / "STSBenchmark.json"
    rc, out = gate(capsys, "--baseline", one, "--results", cur)
    assert rc == 0 and "1 job(s) compared" in out and "22 new" in out
    listing = tmp_path / "baseline.json"
    listing.write_text(json.dumps({"results": [json.loads(p.read_text()) for p in sorted(base.rglob("*.json"))]}))
    edit(cur, f"{MINILM}/SciFact__exact.json", raise_main(-0.01))
    rc, out = gate(capsys, "--baseline", listing, "--results", cur)
    assert rc == 1 and "SciFact" in next(ln for ln in out.splitlines() if ln.startswith("REGRESSION"))


def test_bad_input_is_exit_2(tmp_path, capsys):
    rc, out = gate(capsys, "--baseline", tmp_path / "none", "--results", FIXTURES)
    assert rc == 2 and "baseline not found" in out
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    rc, out = gate(capsys, "--baseline", bad, "--results", FIXTURES)
    assert rc == 2 and "not readable JSON" in out
    (tmp_path / "empty").mkdir()
    rc, out = gate(capsys, "--baseline", tmp_path / "empty", "--results", FIXTURES)
    assert rc == 2 and "no result files" in out


def test_rules_are_ordered_and_total():
    assert DEFAULT_RULES[-1].task_type == "*" and DEFAULT_RULES[-1].metric == "*"
    assert rule_for("hnsw-order", "recall_random_mean").tolerance == 0.02
    assert rule_for("hnsw-order", "hnswlib_lid_desc_effect_pp").direction == 0
    assert rule_for("bias", "WEAT1_p_value").tolerance == 0.02
    assert rule_for("retrieval", "index_recall_tie_at_10").tolerance == 0.02
    assert rule_for("sts", "search_s").tolerance is None
    # comparing a folder with itself: every main score checked, nothing flagged
    same = load_results(FIXTURES, "x")
    res = compare(same, same)
    assert not res.failed and res.compared_jobs == len(same)
