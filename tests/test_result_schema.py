"""Result files are checked against one schema when written and when read; a bad file is named with its field."""
from __future__ import annotations

import json
import math

import pytest

from harness.results import ResultSchemaError, is_done, load_result_files, read_result, write_result

from .conftest import REPO

KEY = "ab" * 32


def good(**changes) -> dict:
    r = {"task": "STSBenchmark", "task_version": 1, "task_type": "sts", "split": "test", "model": "m",
         "model_revision": "1", "index": None, "main_score_name": "cosine_spearman", "main_score": 0.8,
         "scores": {"cosine_spearman": 0.8, "nested": {"a": 1}}, "seed": 42, "params": {"batch_size": None},
         "dataset": {"path": "/d", "sha256": {"test.jsonl": "00"}, "source": "local"},
         "declared": {"title": "STS", "ranked": True, "plots": [],
                      "scores": {"cosine_spearman": {"higher_is_better": True, "tolerance": 0.001}}},
         "details": {}, "embedding_cache": {"encoded": 0, "cached": 10}, "versions": {"numpy": "2", "mteb": None},
         "timings_s": {"load": 0.1}, "job_key": KEY, "status": "ok", "error": None, "created_at": "2025-01-01"}
    r.update(changes)
    return {k: v for k, v in r.items() if v is not _DROP}


_DROP = object()


@pytest.mark.parametrize("folder", ["leaderboard/results", "tests/fixtures/results"])
def test_published_and_fixture_results_are_valid(folder):
    valid, problems = load_result_files(REPO / folder)
    assert valid and problems == []


@pytest.mark.parametrize("changes,message", [
    ({"main_score": "0.5"}, "field 'main_score': not a number (got '0.5')"),
    ({"main_score": True}, "field 'main_score': not a number"),
    ({"main_score": _DROP}, "field 'main_score': missing"),
    ({"task": _DROP}, "field 'task': missing"),
    ({"model": 3}, "field 'model': not a string"),
    ({"status": "done"}, "field 'status': must be 'ok' or 'error'"),
    ({"scores": [0.8]}, "field 'scores': not an object"),
    ({"job_key": "xyz"}, "field 'job_key': not a 64-character hex sha256"),
    ({"job_key": None}, "status 'ok' needs job_key"),
    ({"seed": "42"}, "field 'seed': not an integer"),
    ({"index": {"build": {}}}, "field 'index.name': missing"),
    ({"index": {"name": "hnswlib", "query_points": {"ef": 10}}}, "field 'index.query_points': not a list"),
    ({"index": {"name": "hnswlib", "point": 3}}, "field 'index.point': not a string"),
    ({"declared": {"title": "STS", "ranked": "yes", "scores": {}}}, "field 'declared.ranked': not true/false"),
    ({"declared": {"title": "STS", "ranked": True, "scores": {"x": {"higher_is_better": True, "tolerance": -1}}}},
     "field 'declared.scores.x.tolerance': negative"),
])
def test_bad_field_is_named_with_the_file(tmp_path, changes, message):
    path = tmp_path / "results" / "m" / "STSBenchmark.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(good(**changes)))
    (tmp_path / "results" / "m" / "SICK-R.json").write_text(json.dumps(good(task="SICK-R")))
    valid, problems = load_result_files(tmp_path / "results")
    assert [p.name for p, _ in valid] == ["SICK-R.json"]
    assert len(problems) == 1 and problems[0].startswith(f"{path}: ") and message in problems[0], problems
    assert read_result(path) is None and not is_done(path, KEY)   # an invalid file is redone, never trusted


def test_unreadable_files_are_problems_not_crashes(tmp_path):
    (tmp_path / "a.json").write_text('{"task": ')
    (tmp_path / "b.json").write_text("[1, 2]")
    (tmp_path / ".a.json.123.tmp").write_text("partial")   # a writer's temp file is not a result
    valid, problems = load_result_files(tmp_path)
    assert valid == [] and len(problems) == 2
    assert "a.json: not valid JSON (Expecting value at line 1 column 10)" in problems[0]
    assert "b.json: not a JSON object (a list)" in problems[1]


def test_open_schema_keeps_extra_fields_and_accepts_error_results(tmp_path):
    write_result(tmp_path / "x.json", good(something_new={"a": 1}))
    assert read_result(tmp_path / "x.json")["something_new"] == {"a": 1}
    error = {"task": "T", "model": "m", "index": None, "status": "error", "main_score": None, "scores": {},
             "error": "DataError: ...", "traceback": "..."}
    write_result(tmp_path / "e.json", error)
    assert read_result(tmp_path / "e.json")["status"] == "error"


def test_index_block_of_a_grid_point_is_valid_and_old_blocks_stay_valid(tmp_path):
    point = {"name": "hnswlib", "exact": False, "build": {"M": 16}, "query": {"ef": 100},
             "point": "hnswlib(M=16)[ef=10,20]", "query_points": [{"ef": 10}, {"ef": 20}]}
    write_result(tmp_path / "p.json", good(index=point))
    assert read_result(tmp_path / "p.json")["index"]["query_points"] == [{"ef": 10}, {"ef": 20}]
    old = {k: v for k, v in point.items() if k not in ("point", "query_points")}
    write_result(tmp_path / "o.json", good(index=old))
    assert read_result(tmp_path / "o.json")["index"] == old


def test_write_validates_and_stores_nan_as_null(tmp_path):
    path = write_result(tmp_path / "n.json", good(main_score=math.nan, scores={"cosine_spearman": math.inf}))
    stored = json.loads(path.read_text())
    assert stored["main_score"] is None and stored["scores"]["cosine_spearman"] is None
    with pytest.raises(ResultSchemaError, match=r"bad\.json: result does not match the schema: field 'task': "
                                                r"not a string"):
        write_result(tmp_path / "bad.json", good(task=["STS"]))
    assert not (tmp_path / "bad.json").exists()


def test_bare_nan_in_a_file_is_rejected(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps(good()).replace('"main_score": 0.8', '"main_score": NaN'))
    _, problems = load_result_files(tmp_path)
    assert "field 'main_score': not a finite number" in problems[0]
