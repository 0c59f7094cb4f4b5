"""Index definitions as data (issue 14, item 1): the short form and the file form of build and query grids,
canonical point keys, job expansion (one job per (build, query) point, or one per build point for a task
that sweeps), and every bad grid failing at plan time, before anything is built.

This module is also a `$HARNESS_PLUGINS` module (for the process-pool test): importing it registers two
toy tasks (one searching, one sweeping) and a toy index with a `_check` hook.
"""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from adapters.indexes.base import VectorIndex
from harness import registry
from harness.cli import main
from harness.data import DatasetRecord, read_jsonl
from harness.index_grid import (IndexGrid, IndexGridError, IndexPoint, expand, format_value, from_entries,
                                load_index_config, make_grid, parse_indexes, parse_point)
from tasks.base import Task, TaskOutput

K = 5


# --- toy plugin: an index with range checks, a task that searches and one that sweeps ----------------------
class ToyGridIndex(VectorIndex):
    """Exact numpy search over the first `ef` rows (so ef visibly changes the answer); counts builds."""
    name = "toy-grid"
    BUILD_DEFAULTS = {"metric": "ip", "M": 4, "ef_construction": 16}
    QUERY_DEFAULTS = {"ef": 20}
    BUILDS: list = []   # build points, in this process

    def _check(self, build, query, dim, k):
        if not 2 <= int(build["M"]) <= 64:
            raise self.param_error("M", build["M"], "2..64")
        if dim is not None and dim % int(build["M"]):
            raise self.param_error("M", build["M"], f"a divisor of the dimension {dim}")
        if query is not None and k is not None and int(query["ef"]) < k:
            raise self.param_error("ef", query["ef"], f">= k ({k})")

    def _build(self, x, order, params):
        ToyGridIndex.BUILDS.append(dict(params))
        self._x = x
        return None

    def _search(self, q, k, params):
        d = -(q @ self._x[: int(params["ef"])].T)
        top = np.argsort(d, axis=1, kind="stable")[:, :k]
        return top, np.take_along_axis(d, top, 1).astype(np.float32)

    def _build_stats(self):
        return {"size_bytes": int(self._x.nbytes), "threads": 1, "library": "numpy"}


class _ToyVectors(Task):
    type, main_score, index_k = "toy-grid", "recall", K

    def load(self, data_root):
        rec = DatasetRecord(path=str(data_root))
        self.rows = [r for _, r in read_jsonl(rec.add(data_root / "toy0" / "test.jsonl", data_root))]
        return rec

    def vectors(self, model):
        x = model.encode([r["sentence1"] for r in self.rows])
        return x, model.encode([r["sentence2"] for r in self.rows])

    @staticmethod
    def recall(index, x, q, **query):
        truth = np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :K]
        ids, _ = index.search(q, K, **query)
        return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(ids, truth)]))


class ToyGridSearch(_ToyVectors):
    """uses_index: one job per (build point, query point); searches with the index's query defaults."""
    name, uses_index = "ToyGridSearch", True

    def evaluate(self, model, index=None):
        x, q = self.vectors(model)
        index.build(x)
        return TaskOutput({"recall": self.recall(index, x, q)}, {"query_params": index.query_params})


class ToyGridSweep(_ToyVectors):
    """sweeps_index: one job per build point; one build, every query point searched on it."""
    name, sweeps_index = "ToyGridSweep", True

    def default_indexes(self):
        return [{"name": "toy-grid", "build": {"M": 2}, "query": {"ef": [10, 30]}}]

    def evaluate(self, model, index=None, query_points=()):
        x, q = self.vectors(model)
        index.build(x)
        points = [{"query": p, "recall": self.recall(index, x, q, **p)} for p in query_points]
        return TaskOutput({"recall": max(p["recall"] for p in points)},
                          {"points": points, "builds": 1, "build": index.build_params})


registry.INDEXES["toy-grid"] = "tests.test_index_grid:ToyGridIndex"
registry.TASKS["ToyGridSearch"] = "tests.test_index_grid:ToyGridSearch"
registry.TASKS["ToyGridSweep"] = "tests.test_index_grid:ToyGridSweep"
registry.MODELS["toy-hash"] = "tests.toy_models:hash_model"


# --- the short form -----------------------------------------------------------------------------------------
def keys(text: str) -> list[str]:
    return [p.key for p in expand(parse_indexes(text))]


def test_short_form_expands_build_points_and_keeps_each_query_grid():
    text = "exact,hnswlib(M=16,32;ef_construction=128)[ef=10,20,40,80],faiss-ivf-flat(nlist=64)[nprobe=1,4,16,64]"
    assert keys(text) == ["exact", "hnswlib(M=16;ef_construction=128)[ef=10,20,40,80]",
                          "hnswlib(M=32;ef_construction=128)[ef=10,20,40,80]",
                          "faiss-ivf-flat(nlist=64)[nprobe=1,4,16,64]"]
    p = parse_point("hnswlib(M=16;ef_construction=128)[ef=10,20,40,80]")
    assert p.build == {"M": 16, "ef_construction": 128} and p.build_key == "hnswlib(M=16;ef_construction=128)"
    assert p.query_points == [{"ef": 10}, {"ef": 20}, {"ef": 40}, {"ef": 80}]
    assert p.at({"ef": 20}).key == "hnswlib(M=16;ef_construction=128)[ef=20]"
    # a query grid over two parameters is their product; no grid is one point at the defaults
    assert parse_point("x[b=1,2;a=z]").query_points == [{"a": "z", "b": 1}, {"a": "z", "b": 2}]
    assert parse_point("exact").query_points == [{}] and parse_point("exact").build == {}


def test_commas_inside_brackets_separate_values_outside_separate_indexes():
    assert keys("x(s=IVF4096,PQ8)[a=1,2],y") == ["x(s=IVF4096)[a=1,2]", "x(s=PQ8)[a=1,2]", "y"]
    assert keys('x(s="IVF4096,PQ8")') == ['x(s="IVF4096,PQ8")']


def test_whitespace_order_and_duplicates_do_not_change_the_key():
    assert keys("  hnswlib ( ef_construction = 128 ; M = 32 , 16 ) [ ef = 80,10 , 10 ] ") == keys(
        "hnswlib(M=16,32;ef_construction=128)[ef=10,80]")
    assert keys("hnswlib[ef=10], hnswlib[ef=10], hnswlib()[]") == ["hnswlib[ef=10]", "hnswlib"]
    assert keys("a(x=1;)[y=2;]") == ["a(x=1)[y=2]"]   # a trailing ';' is allowed


@pytest.mark.parametrize("text,value", [("16", 16), ("-3", -3), ("0.5", 0.5), ("1e-3", 0.001), ("true", True),
                                        ("False", False), ("null", None), ("f16", "f16"),
                                        ('"a b;c"', "a b;c"), ('"16"', "16"), ("inf", "inf"), ("/tmp/db", "/tmp/db")])
def test_values_are_typed(text, value):
    got = parse_point(f"x(v={text})").build["v"]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text,message,position", [
    ("hnswlib(M 16)", "expected '=' after build parameter 'M' of hnswlib", 11),
    ("hnswlib(M=16", "expected ',' (another value), ';' (another parameter) or ')' in the build grid", 13),
    ("hnswlib[ef=]", "expected a value for 'ef'", 12),
    ("hnswlib[ef=10](M=2)", "the build grid (...) of hnswlib must come before its query grid", 15),
    ("hnswlib[ef=10][ef=20]", "hnswlib has a second query grid", 15),
    ("exact,,hnswlib", "expected an index name", 7),
    ("hnswlib(M=16;M=32)", "build parameter 'M' of hnswlib is given twice", 14),
    ("hnswlib[ef=10]x", "expected ',' between indexes", 15),
    ('x(s="abc)', "unterminated or malformed quoted value of 's'", 5),
    ("x(=3)", "expected a build parameter name of x", 3),
    ("(M=3)", "expected an index name", 1),
])
def test_syntax_errors_name_the_text_and_position(text, message, position):
    with pytest.raises(IndexGridError) as e:
        parse_indexes(text)
    assert str(e.value).startswith(f"--indexes {text!r}: {message}"), str(e.value)
    assert f"at position {position} " in str(e.value), str(e.value)


def test_empty_list_is_an_error():
    with pytest.raises(IndexGridError, match="empty index list"):
        parse_indexes("  ")


def _random_value(rng):
    return rng.choice([rng.randint(-5, 500), rng.choice([0.5, 1e-7, 3.0, -2.25, 1e20]), rng.choice([True, False]),
                       None, rng.choice(["f16", "i8", "IVF,PQ", "a b", "16", "true", "x=y", 'q"uote', "ü", "[1]"])])


def test_canonical_keys_round_trip():
    """parse(key).key == key for random grids of every value type, and the point is the same object."""
    rng = random.Random(7)
    for _ in range(300):
        build = {f"b{i}": [_random_value(rng) for _ in range(rng.randint(1, 2))] for i in range(rng.randint(0, 3))}
        query = {f"q{i}": [_random_value(rng) for _ in range(rng.randint(1, 3))] for i in range(rng.randint(0, 2))}
        for point in make_grid("idx-" + str(rng.randint(0, 9)), build, query).points():
            again = parse_point(point.key)
            assert again == point and again.key == point.key, point.key
            assert again.query_points == point.query_points
    for v in (16, 0.5, True, None, "f16", "16", "a,b", 'x"y'):
        assert parse_point(f"x(v={format_value(v)})").build["v"] == v


def test_a_key_names_one_build_point():
    with pytest.raises(IndexGridError, match="names 2 build points, not one"):
        parse_point("hnswlib(M=16,32)")


# --- the file form and entries as data ---------------------------------------------------------------------
SHORT = "exact,hnswlib(M=16,32;ef_construction=128)[ef=10,40]"
ENTRIES = [{"name": "exact"}, {"name": "hnswlib", "build": {"M": [16, 32], "ef_construction": 128},
                                "query": {"ef": [10, 40]}}]


@pytest.mark.parametrize("name,text", [
    ("grid.json", json.dumps(ENTRIES)),
    ("grid.json", json.dumps({"indexes": ENTRIES})),
    ("grid.yaml", "- name: exact\n- name: hnswlib\n  build: {M: [16, 32], ef_construction: 128}\n"
                  "  query:\n    ef: [10, 40]\n"),
    ("grid.yml", "indexes:\n  - exact\n  - 'hnswlib(M=16,32;ef_construction=128)[ef=10,40]'\n"),
])
def test_file_forms_equal_the_short_form(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    assert [p.key for p in expand(load_index_config(tmp_path / name))] == keys(SHORT)


@pytest.mark.parametrize("name,text,message", [
    ("g.txt", "[]", "expected a .json, .yaml or .yml file"),
    ("g.json", '[{"name": "exact",}]', "g.json:1: not valid JSON"),
    ("g.yaml", "- name: exact\n  build: {M: [1, 2}\n", "g.yaml:2: not valid YAML"),
    ("g.json", '{"indexes": [], "x": 1}', "a mapping at the top must hold only 'indexes'"),
    ("g.json", "[]", "expected a non-empty list"),
    ("g.json", '[{"name": "hnswlib", "bild": {}}]', "entry 1: unknown field(s) 'bild'; valid: name, build, query"),
    ("g.json", '[{"build": {"M": 16}}]', "entry 1: missing field 'name'"),
    ("g.json", '[{"name": "x", "build": {"M": []}}]', "x build parameter 'M' has an empty list"),
    ("g.json", '[{"name": "x", "query": {"ef": [{"a": 1}]}}]', "x query parameter 'ef': value {'a': 1} is not"),
    ("g.json", '[{"name": "x", "query": [1]}]', "x 'query' must map parameter names"),
    ("g.json", '[{"name": "x y"}]', "index name must be a non-empty string"),
    ("g.json", '[3]', "entry 1: expected"),
    ("g.json", '["exact", "hnswlib(M=)"]', "entry 2 'hnswlib(M=)': expected a value for 'M'"),
])
def test_file_errors_name_the_file_and_entry(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(IndexGridError) as e:
        load_index_config(tmp_path / name)
    assert message in str(e.value) and name in str(e.value), str(e.value)


def test_entries_accept_strings_dicts_and_grids():
    grids = from_entries(["exact,toy-grid[ef=10]", {"name": "toy-grid", "build": {"M": 2}},
                          IndexGrid("hnswlib")], "default_indexes()")
    assert [p.key for p in expand(grids)] == ["exact", "toy-grid[ef=10]", "toy-grid(M=2)", "hnswlib"]
    assert isinstance(expand(grids)[0], IndexPoint)


# --- jobs: planning, plan-time checks, an end-to-end grid run ------------------------------------------------
@pytest.fixture
def grid_root(tmp_path):
    from . import toy_tasks
    toy_tasks.write_sts(tmp_path / "data", "toy0")
    toy_tasks.register()
    ToyGridIndex.BUILDS.clear()
    return tmp_path


def run_args(root, *extra) -> list[str]:
    return ["run", "--models", "toy-hash", "--data-root", str(root / "data"), "--results", str(root / "results"),
            "--cache-dir", str(root / "cache"), "--no-progress", *extra]


def test_one_job_per_query_point_or_per_build_point(grid_root):
    from harness.runner import plan
    jobs = plan(["ToyGridSearch", "ToyGridSweep", "ToySTS0"], ["toy-hash"], ["exact,toy-grid(M=2,4)[ef=10,40]"],
                data_root=str(grid_root / "data"))
    by_task = {t: [j.index for j in jobs if j.task == t] for t in ("ToyGridSearch", "ToyGridSweep", "ToySTS0")}
    assert by_task == {
        "ToyGridSearch": ["exact", "toy-grid(M=2)[ef=10]", "toy-grid(M=2)[ef=40]", "toy-grid(M=4)[ef=10]",
                          "toy-grid(M=4)[ef=40]"],
        "ToyGridSweep": ["exact", "toy-grid(M=2)[ef=10,40]", "toy-grid(M=4)[ef=10,40]"],
        "ToySTS0": [None]}
    # without --indexes each task's own default_indexes(): the base class gives exact, the sweep its grid
    jobs = plan(["ToyGridSearch", "ToyGridSweep"], ["toy-hash"], data_root=str(grid_root / "data"))
    assert [j.index for j in jobs] == ["exact", "toy-grid(M=2)[ef=10,30]"]
    assert ToyGridIndex.BUILDS == []   # planning builds nothing


def _fails_at_plan_time(args, capsys, root, *needles) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
    for needle in needles:
        assert needle in err[0], err[0]
    assert not (root / "results").exists(), "a job ran although the grid was bad"
    assert ToyGridIndex.BUILDS == [], "an index was built although the grid was bad"
    return err[0]


@pytest.mark.parametrize("grid,needles", [
    ("toy-grid(MM=4)", ["toy-grid index: unknown build parameter 'MM'; valid: metric, M, ef_construction"]),
    ("toy-grid(ef=40)", ["toy-grid index: 'ef' is a query parameter", "toy-grid[ef=...]"]),
    ("toy-grid[eff=40]", ["toy-grid index: unknown query parameter 'eff'; valid: ef"]),
    ("exact,toy-grid[ef=40,2]", ["index point toy-grid[ef=2,40] (k=5, dim=32)",
                                 "toy-grid index: parameter ef=2 is out of range; valid: >= k (5)"]),
    ("toy-grid(M=1)", ["toy-grid index: parameter M=1 is out of range; valid: 2..64"]),
    ("toy-grid(M=2,3)", ["index point toy-grid(M=3)", "parameter M=3 is out of range; valid: a divisor of the "
                                                      "dimension 32"]),   # the dim the model declares
    ("toy-grid(M=abc)", ["index 'toy-grid(M=abc)' cannot be constructed: ValueError"]),
    ("hnswlib(MM=16)", ["hnswlib index: unknown build parameter 'MM'; valid: metric, M, ef_construction"]),
    ("hnswlib[ef=2]", ["task ToyGridSearch, index point hnswlib[ef=2]", "hnswlib", "ef=2", "valid"]),
    ("nosuch(M=1)", ["unknown index 'nosuch'"]),
    ("exact,toy-grid(M=2", ["--indexes 'exact,toy-grid(M=2': expected ','", "position 19"]),
])
def test_bad_grids_fail_at_plan_time_naming_index_parameter_and_valid_values(grid_root, capsys, grid, needles):
    _fails_at_plan_time(run_args(grid_root, "--tasks", "ToyGridSearch", "--indexes", grid), capsys, grid_root,
                        *needles)


def test_bad_index_config_fails_at_plan_time(grid_root, capsys):
    config = grid_root / "grid.yaml"
    config.write_text("- name: toy-grid\n  build: {M: [2, 4]}\n  query: {ef: [10, 1]}\n")
    _fails_at_plan_time(run_args(grid_root, "--tasks", "ToyGridSweep", "--index-config", str(config)), capsys,
                        grid_root, "task ToyGridSweep, index point toy-grid(M=2)[ef=1,10]", "ef=1", ">= k (5)")


def test_grid_run_end_to_end(grid_root, capsys):
    """Two tasks x (exact + 2 build points x 2 query points): the searching task runs a job per point, the
    sweeping task one per build point, searching both query points on one build, with the same answers."""
    from harness.results import iter_results
    args = run_args(grid_root, "--tasks", "ToyGridSearch,ToyGridSweep", "--indexes", "exact,toy-grid(M=2,4)[ef=10,40]")
    assert main(args) == 0
    results = {(r["task"], r["index"]["point"]): (p, r) for p, r in iter_results(grid_root / "results")}
    assert len(results) == 8 and len({r["job_key"] for _, r in results.values()}) == 8
    assert len(ToyGridIndex.BUILDS) == 4 + 2   # one per search job, one per sweep build point
    for m in (2, 4):
        sweep_path, sweep = results[("ToyGridSweep", f"toy-grid(M={m})[ef=10,40]")]
        assert sweep_path.name == f"ToyGridSweep__toy-grid_M={m}_ef=10,40.json"
        assert sweep["index"]["query_points"] == [{"ef": 10}, {"ef": 40}] and sweep["index"]["build"]["M"] == m
        assert sweep["details"]["build"]["M"] == m and sweep["details"]["builds"] == 1
        for ef, point in zip((10, 40), sweep["details"]["points"]):
            _, search = results[("ToyGridSearch", f"toy-grid(M={m})[ef={ef}]")]
            assert search["details"]["query_params"] == {"ef": ef}     # the query point became the default
            assert search["index"]["query_points"] == [{"ef": ef}] and search["index"]["query"]["ef"] == ef
            assert point == {"query": {"ef": ef}, "recall": search["scores"]["recall"]}
        assert sweep["details"]["points"][0]["recall"] < sweep["details"]["points"][1]["recall"] == 1.0
    exact_path, exact = results[("ToyGridSearch", "exact")]
    assert exact_path.name == "ToyGridSearch__exact.json" and exact["index"]["exact"] is True  # ties: not 1.0
    capsys.readouterr()
    assert main(args) == 0   # resume: every job is found again by its key, nothing is rebuilt
    assert capsys.readouterr().out.count(" skipped ") == 8 and len(ToyGridIndex.BUILDS) == 6


def test_a_plain_index_keeps_its_job_key_from_before_grids(grid_root):
    """`--indexes exact` resumes results written before index grids: same file, same job key."""
    from harness.embedding import CachedModel
    from harness.cache import EmbeddingCache
    from harness.model_meta import vector_meta
    from harness.results import job_key
    from harness.runner import JobSpec, RunSettings, run_job

    from .toy_models import hash_model
    settings = RunSettings(results_dir=str(grid_root / "results"), data_root=str(grid_root / "data"),
                           cache_dir=str(grid_root / "cache"), progress=False)
    out = run_job(JobSpec("toy-hash", "ToyGridSearch", "exact"), settings)
    assert out.status == "ok" and out.path.endswith("toy-hash/ToyGridSearch__exact.json")
    task = ToyGridSearch()
    old_definition = {**task.describe(), "dataset_sha256": task.load(grid_root / "data").sha256, "model": "toy-hash",
                      "model_meta": vector_meta(CachedModel(hash_model(), EmbeddingCache(grid_root / "c")).meta),
                      "index": registry.make_index("exact").spec()}
    assert json.loads(open(out.path).read())["job_key"] == job_key(old_definition)


def test_grid_jobs_through_the_process_pool(grid_root, monkeypatch):
    import pickle

    from harness.executors import InProcessExecutor, ProcessPoolExecutor
    from harness.runner import JobSpec, RunSettings, run
    jobs = [JobSpec("toy-hash", "ToyGridSweep", "toy-grid(M=2)[ef=10,40]"),
            JobSpec("toy-hash", "ToyGridSearch", "toy-grid(M=4)[ef=10]")]
    assert [pickle.loads(pickle.dumps(j)) for j in jobs] == jobs

    def settings(**kw):
        return RunSettings(results_dir=str(grid_root / "results"), data_root=str(grid_root / "data"),
                           cache_dir=str(grid_root / "cache"), progress=False, **kw)
    local = {o.spec: (o.status, o.main_score) for o in run(jobs, settings(), InProcessExecutor())}
    monkeypatch.setenv("HARNESS_PLUGINS", "tests.test_index_grid")   # workers register the toys on import
    pooled = run(jobs, settings(overwrite=True), ProcessPoolExecutor(2))
    assert {o.spec: (o.status, o.main_score) for o in pooled} == local, [o.error for o in pooled]
    assert all(status == "ok" for status, _ in local.values())
