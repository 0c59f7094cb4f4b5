"""`run.py gate` against baselines made from the fixture results (tests/fixtures/results), and on small
results written here (a task type nobody registered, results without a `declared` block, bad files)."""
from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import cli
from harness.gate import FALLBACK, compare, declared_rule, load_results, rule_for
from harness.report_fields import parse_declared
from tests.fixtures.make_results import toy_result, write

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
    declared = json.loads((cur / MINILM / "STSBenchmark.json").read_text())["declared"]
    tol = declared["scores"]["cosine_spearman"]["tolerance"]     # what tasks/sts.py declares
    assert tol == 0.001 and declared["scores"]["cosine_spearman"]["higher_is_better"] is True
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
    assert rule_for("qps", "SciFact", "retrieval").tolerance is None        # machine figure (registry)


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


def test_rules_come_from_the_declarations_in_order():
    """current result's `declared`, else the baseline's, else the task registry, else FALLBACK."""
    cur = parse_declared({"title": "X", "ranked": True, "scores": {"a": {"higher_is_better": False, "tolerance": 0.5}}})
    base = parse_declared({"title": "X", "ranked": True, "scores": {"a": {"higher_is_better": True, "tolerance": 0.1},
                                                                      "b": {"higher_is_better": None, "tolerance": 0.2}}})
    assert _t(declared_rule("a", "ToyTask", cur, base)) == (0.5, -1, "declared")
    assert _t(declared_rule("b", "ToyTask", cur, base)) == (0.2, 0, "baseline")
    assert _t(declared_rule("c", "ToyTask", cur, base)) == (FALLBACK.tolerance, 1, "fallback")
    # results written before tasks declared: the registered task's own rules
    assert _t(declared_rule("recall_random_mean", "HNSWInsertionOrder", None, None)) == (0.02, 1, "registry")
    assert declared_rule("hnswlib_lid_desc_effect_pp", "HNSWInsertionOrder", None, None).direction == 0
    assert declared_rule("WEAT1_p_value", "SEAT", None, None).tolerance == 0.02
    assert declared_rule("index_recall_tie_at_10", "SciFact", None, None).tolerance == 0.02
    assert declared_rule("search_s", "STSBenchmark", None, None).tolerance is None
    # --tolerance keeps the declared direction; TYPE is a glob over task_type
    assert _t(rule_for("a", "ToyTask", "pair-scoring", cur, base, *_tol(["pair-*:a=0.9"])))[:2] == (0.9, -1)
    assert _t(rule_for("a", "ToyTask", "sts", cur, base, *_tol(["pair-*:a=0.9"])))[:2] == (0.5, -1)
    assert rule_for("search_s", "STSBenchmark", "sts", None, None, *_tol(["0.3"])).tolerance is None
    # comparing a folder with itself: every main score checked, nothing flagged
    same, notes = load_results(FIXTURES, "x")
    res = compare(same, same)
    assert not res.failed and res.compared_jobs == len(same) and not notes


def _t(rule):
    return rule.tolerance, rule.direction, rule.source


def _tol(values):
    from harness.gate import parse_tolerances
    global_tol, overrides = parse_tolerances(values)
    return overrides, global_tol


def test_declared_direction_and_tolerance_decide(dirs, capsys):
    """What the current result declares wins: a lower-is-better main score with its own tolerance."""
    base, cur = dirs

    def lower_is_better(r):
        r["declared"]["scores"]["cosine_spearman"] = {"higher_is_better": False, "tolerance": 0.01}
    edit(cur, f"{MINILM}/STSBenchmark.json", lower_is_better)
    edit(cur, f"{MINILM}/STSBenchmark.json", raise_main(0.005))          # within the declared 0.01
    assert gate(capsys, "--baseline", base, "--results", cur)[0] == 0
    edit(cur, f"{MINILM}/STSBenchmark.json", raise_main(0.02))           # up is worse for this score
    rc, out = gate(capsys, "--baseline", base, "--results", cur)
    assert rc == 1 and any(ln.startswith("REGRESSION") and "STSBenchmark" in ln for ln in out.splitlines())


def test_new_task_type_is_gated_from_its_declaration(tmp_path, capsys):
    """A task type nobody registered: direction and tolerance come from its results alone."""
    declared = {"title": "Pair scoring", "ranked": True, "plots": [],
                "scores": {"ap": {"higher_is_better": True, "tolerance": 0.005},
                           "err": {"higher_is_better": False, "tolerance": 0.001}}}
    base, cur = tmp_path / "base", tmp_path / "cur"
    write(base, toy_result("m-a", "ToyPairs", "pair-scoring", 0.70, main="ap", declared=declared, err=0.1))
    write(cur, toy_result("m-a", "ToyPairs", "pair-scoring", 0.697, main="ap", declared=declared, err=0.2))
    rc, out = gate(capsys, "--baseline", base, "--results", cur)
    assert rc == 0, out                                                  # -0.003 within 0.005
    rc, out = gate(capsys, "--baseline", base, "--results", cur, "--all-scores")
    assert rc == 1 and next(ln for ln in out.splitlines() if ln.startswith("REGRESSION")).split()[4] == "err"
    assert "nothing declares" not in out


def test_undeclared_results_use_the_registry_else_a_noted_fallback(tmp_path, capsys):
    base, cur = tmp_path / "base", tmp_path / "cur"
    # no `declared` and a registered name: IntrinsicDimension's rule (descriptive, 0.01) applies
    write(base, toy_result("m-a", "IntrinsicDimension-SciFact", "intrinsic-dimension", 20.0, main="mle"))
    write(cur, toy_result("m-a", "IntrinsicDimension-SciFact", "intrinsic-dimension", 20.5, main="mle"))
    rc, out = gate(capsys, "--baseline", base, "--results", cur)
    assert rc == 1 and any(ln.startswith("CHANGED") for ln in out.splitlines()), out
    # no `declared` and an unknown task: higher-is-better 0.001, and a note says so
    write(base, toy_result("m-a", "Mystery", "mystery-type", 0.5))
    write(cur, toy_result("m-a", "Mystery", "mystery-type", 0.6))
    rc, out = gate(capsys, "--baseline", base, "--results", cur)
    assert any(ln.startswith("IMPROVEMENT") and "Mystery" in ln for ln in out.splitlines())
    assert "m-a / Mystery: nothing declares how to compare score" in out and "higher-is-better" in out


def test_bad_result_files_are_notes(dirs, capsys):
    base, cur = dirs
    (cur / MINILM / "Broken.json").write_text("{not json")
    rc, out = gate(capsys, "--baseline", base, "--results", cur)
    assert rc == 0, out
    assert "note: results folder: result file skipped:" in out and "Broken.json" in out
