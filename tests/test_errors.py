"""Bad input gets a clear error naming the file and line or field (issue 3, item 8)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness import registry
from harness.data import read_jsonl, resolve_data_root
from harness.errors import DataError, EmbeddingError, HarnessError, UnknownNameError
from tasks.sts import STSTask


def make_sts(tmp_path, lines: list[str]):
    folder = tmp_path / "stsx"
    folder.mkdir(exist_ok=True)
    (folder / "test.jsonl").write_text("\n".join(lines) + "\n")
    return STSTask("X", "stsx", "none/none", "none")


GOOD = json.dumps({"sentence1": "a b", "sentence2": "a c", "score": 2.5})


def test_missing_data_root_is_named(tmp_path):
    with pytest.raises(DataError, match="does not exist") as e:
        resolve_data_root(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(e.value)


def test_missing_data_folder_and_file(tmp_path):
    with pytest.raises(DataError, match="folder not found"):
        STSTask("X", "absent", "n", "n").load(tmp_path)
    (tmp_path / "stsx").mkdir()
    with pytest.raises(DataError, match=r"test\.jsonl: file not found"):
        STSTask("X", "stsx", "n", "n").load(tmp_path)


def test_bad_json_line_names_file_and_line(tmp_path):
    task = make_sts(tmp_path, [GOOD, GOOD, '{"sentence1": "x", ', GOOD])
    with pytest.raises(DataError, match=r"test\.jsonl:3: bad JSON") as e:
        task.load(tmp_path)
    assert e.value.line == 3


def test_missing_field(tmp_path):
    task = make_sts(tmp_path, [GOOD, json.dumps({"sentence1": "x", "score": 1})])
    with pytest.raises(DataError, match=r":2: missing field 'sentence2'"):
        task.load(tmp_path)


@pytest.mark.parametrize("bad", ["high", None, "nan", "inf"])
def test_non_numeric_score(tmp_path, bad):
    row = {"sentence1": "x", "sentence2": "y", "score": bad}
    task = make_sts(tmp_path, [GOOD, json.dumps(row)])
    with pytest.raises(DataError, match=r":2: (field 'score'|missing field 'score')"):
        task.load(tmp_path)


def test_empty_split(tmp_path):
    task = make_sts(tmp_path, [""])
    with pytest.raises(DataError, match="empty split"):
        task.load(tmp_path)


def test_non_object_line(tmp_path):
    p = tmp_path / "f.jsonl"
    p.write_text("[1, 2]\n")
    with pytest.raises(DataError, match=r"f\.jsonl:1: expected a JSON object"):
        list(read_jsonl(p))


def _encode_with(output, texts=("a", "b", "c")):
    """What the engine does with an adapter's output: CachedModel checks it (harness.vectors.check_matrix)."""
    from adapters.models.callable import CallableModel
    from harness.embedding import CachedModel
    return CachedModel(CallableModel(lambda batch: output, name="m", dim=4), None, progress=False).encode(list(texts))


@pytest.mark.parametrize("arr,match", [
    (np.ones((3, 4)) * np.array([1, np.nan, 1, 1]), r"model 'm': non-finite value \(NaN or Inf\) in row 0 "
                                                    r"\(text '[abc]'\); 3 such row"),
    (np.ones((2, 4)), r"model 'm': 2 vectors for 3 inputs"),
    (np.ones((3,)), r"model 'm': expected a 2-D array .* shape \(3,\)"),
    (np.ones((3, 5)), r"model 'm': dimension 5, expected 4"),
    (np.array([["a"] * 4] * 3), "model 'm': expected real numbers, got dtype"),
])
def test_adapter_output_checked(arr, match):
    with pytest.raises(EmbeddingError, match=match):
        _encode_with(arr)


def test_inf_row_named():
    arr = np.ones((5, 4))
    arr[3, 1] = np.inf
    with pytest.raises(EmbeddingError, match=r"model 'm': .* row 3 \(text '[a-e]'\); 1 such row"):
        _encode_with(arr, "abcde")


@pytest.mark.parametrize("kind,maker", [("task", registry.make_task), ("model", registry.make_model)])
def test_unknown_names_list_valid_ones(kind, maker):
    with pytest.raises(UnknownNameError) as e:
        maker("NoSuchThing")
    msg = str(e.value)
    assert f"unknown {kind} 'NoSuchThing'" in msg
    assert ("STSBenchmark" in msg) if kind == "task" else ("all-MiniLM-L6-v2" in msg)


def test_unknown_suite():
    with pytest.raises(UnknownNameError, match="valid suites: .*default"):
        registry.suite_tasks("nope")


def test_harness_errors_are_value_errors():
    assert issubclass(DataError, HarnessError) and issubclass(HarnessError, ValueError)


def test_unknown_name_suggests_close_names():
    with pytest.raises(UnknownNameError, match=r"unknown task 'SciFcat' \(did you mean 'SciFact'( or '[^']+')?\?\); valid tasks: "):
        registry.make_task("SciFcat")
    with pytest.raises(UnknownNameError, match=r"did you mean 'all-MiniLM-L6-v2'\?"):
        registry.make_model("minilm")
    with pytest.raises(UnknownNameError, match=r"unknown task 'zzz'; valid tasks: .*beir:<folder or BEIR name>"):
        registry.make_task("zzz")
