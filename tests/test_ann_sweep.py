"""ANN sweep task (tasks/ann_sweep.py, tasks/ann_measure.py): every number against a reference.

- exact search recalls 1.0; hnswlib's recall at each ef equals raw hnswlib called directly with the same
  data, seed and parameters, scored against a float64 numpy brute force (no ties on continuous data,
  so the tie rule and the plain intersection agree);
- nDCG@10 equals the retrieval task's with exact search (a small BEIR folder; SciFact / MiniLM, slow);
- the ground truth is computed once and reused by a second job (another index) on the same data;
- the result holds the issue-14 brief's format; bad parameters fail with errors naming them.
Timings are only checked for shape and sign, never against absolute values.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness import registry
from harness.errors import HarnessError
from tasks import neighbours as nb
from tasks.ann_measure import PeakRSS, latencies, search_threads
from tasks.ann_sweep import ANNSweepTask
from tasks.vector_sources import gram_schmidt_points

from .test_retrieval import HashModel, small_set

K = 10
SOURCE = {"kind": "gram_schmidt", "n": 1500, "nq": 80, "dim": 24, "intrinsic_dim": 8, "seed": 5}
EFS = (10, 20, 40)


class NoModel:
    meta = {"name": "none"}
    progress = False


@pytest.fixture(autouse=True)
def gt_cache(tmp_path, monkeypatch):
    cache = tmp_path / "gt"
    monkeypatch.setenv("HARNESS_GT_CACHE", str(cache))
    return cache


def task(**params) -> ANNSweepTask:
    t = ANNSweepTask("ANN-test", **{"source": dict(SOURCE), "metric": "l2", "repeats": 2, "latency_queries": 20,
                                    **params})
    t.load(None)
    return t


def sweep(t, name, build=None, points=None, model=None):
    return t.evaluate(model or NoModel(), registry.make_index(name, **(build or {})), query_points=points)


def test_exact_recall_one_and_result_format():
    out = sweep(task(qps_threads=[2]), "exact")
    s, d = out.scores, out.details
    assert set(s) == {"recall@10", "qps_at_best_recall", "build_s", "index_size_bytes", "build_peak_memory_bytes"}
    assert s["recall@10"] == 1.0 and s["qps_at_best_recall"] > 0 and s["build_s"] >= 0
    assert s["index_size_bytes"] == 1500 * 24 * 4 and s["build_peak_memory_bytes"] >= 0
    assert d["dataset"] == {"name": d["source"]["name"], "kind": "synthetic", "n": 1500, "dim": 24, "n_queries": 80,
                            "metric": "l2"}
    assert d["index"]["name"] == "exact" and d["index"]["label"] == "exact" and d["index"]["build"]["metric"] == "l2"
    assert {"library", "deterministic"} <= set(d["index"])
    assert set(d["build"]) == {"seconds", "peak_memory_bytes", "size_bytes", "threads"}
    assert d["ground_truth"]["k"] == 10 and d["ground_truth"]["cached"] is False
    (row,) = d["points"]
    assert row["query"] == {} and row["recall_tie@10"] == row["recall_id@10"] == 1.0
    assert row["repeats"] == 2 and row["threads"] == 1 and "ndcg@10" not in row
    assert set(row["latency_ms"]) == {"p50", "p95", "p99", "mean", "n_queries"} and row["latency_ms"]["n_queries"] == 20
    assert 0 < row["latency_ms"]["p50"] <= row["latency_ms"]["p95"] <= row["latency_ms"]["p99"]
    assert set(row["qps_threads"]) == {"2"} and row["qps_threads"]["2"] > 0
    assert out.sidecars["per_query_recall_tie"].shape == (1, 80)
    json.dumps(d, allow_nan=False)
    t = task()
    declared = t.declare(s)
    assert declared["ranked"] is False and declared["title"] == "ANN index sweep"
    assert declared["plots"] == ["tasks.plots.ann:plot_recall_vs_qps", "tasks.plots.ann:plot_ndcg_vs_qps"]
    assert declared["tables"] == ["tasks.plots.ann:table_pareto_points"]
    assert declared["scores"]["recall@10"] == {"higher_is_better": True, "tolerance": 0.02}
    for machine in ("qps_at_best_recall", "build_s", "index_size_bytes", "build_peak_memory_bytes"):
        assert declared["scores"][machine]["tolerance"] is None
    assert t.sweeps_index and t.index_k == 10 and t.type == "ann-sweep"


def test_hnswlib_recall_equals_raw_hnswlib_and_numpy_exact():
    import hnswlib
    out = sweep(task(), "hnswlib", {"M": 8, "ef_construction": 40}, [{"ef": ef} for ef in EFS])
    x = gram_schmidt_points(1500 + 80, 24, 8, np.random.default_rng(5))
    base, queries = x[:1500], x[1500:]
    d2 = ((queries.astype(np.float64)[:, None, :] - base.astype(np.float64)[None]) ** 2).sum(axis=2)
    true = np.argsort(d2, axis=1, kind="stable")[:, :K]
    raw = hnswlib.Index(space="l2", dim=24)
    raw.init_index(max_elements=1500, M=8, ef_construction=40, random_seed=100)
    raw.add_items(base, np.arange(1500), num_threads=1)
    rows = out.details["points"]
    assert [r["query"] for r in rows] == [{"ef": ef} for ef in EFS]
    for ef, row in zip(EFS, rows):
        raw.set_ef(ef)
        found, _ = raw.knn_query(queries, k=K, num_threads=1)
        ref = np.mean([len(set(f) & set(t)) / K for f, t in zip(found.tolist(), true.tolist())])
        assert row["recall_id@10"] == pytest.approx(ref, abs=1e-12)
        assert row["recall_tie@10"] == pytest.approx(ref, abs=1e-12)
    recalls = [r["recall_tie@10"] for r in rows]
    assert recalls[0] < 1.0 and out.scores["recall@10"] == max(recalls)   # the sweep has something to show
    best = max(rows, key=lambda r: (r["recall_tie@10"], r["qps"]))
    assert out.scores["qps_at_best_recall"] == best["qps"]
    assert out.details["index"]["label"] == "hnswlib(M=8;ef_construction=40)"
    assert out.details["build"]["threads"] == 1
    np.testing.assert_allclose(out.sidecars["per_query_recall_tie"].mean(axis=1), recalls, atol=1e-6)


def test_ground_truth_computed_once_across_two_jobs(monkeypatch):
    calls = []
    real = nb.exact_neighbours
    monkeypatch.setattr(nb, "exact_neighbours", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = sweep(task(), "exact")
    second = sweep(task(), "hnswlib", {"M": 8}, [{"ef": 20}])     # another job: fresh task, other index
    assert len(calls) == 1
    assert first.details["ground_truth"]["cached"] is False and second.details["ground_truth"]["cached"] is True
    assert first.details["ground_truth"]["cache_key"] == second.details["ground_truth"]["cache_key"]


def test_ndcg_equals_retrieval_task_with_exact_search(tmp_path):
    folder = small_set(tmp_path)
    model = HashModel()
    retrieval = registry.make_task(f"beir:{folder}")
    retrieval.load(None)
    ref = retrieval.evaluate(model).details["scores_unrounded"]["ndcg_at_10"]
    t = ANNSweepTask("ANN-beir", source={"kind": "beir", "path": str(folder)}, metric="model", repeats=1)
    t.load(None)
    out = sweep(t, "exact", model=model)
    assert out.scores["ndcg@10"] == ref and out.details["points"][0]["ndcg@10"] == ref
    assert out.details["dataset"]["kind"] == "beir" and out.details["dataset"]["metric"] == "cosine"
    assert out.details["dataset"]["n_queries"] == 8 and out.details["index_metric"] == "ip"
    # an HNSW index that finds every neighbour (40 documents) gives the same nDCG
    hnsw = sweep(t, "hnswlib", {}, [{"ef": 40}], model=model)
    assert hnsw.scores["recall@10"] == 1.0 and hnsw.scores["ndcg@10"] == pytest.approx(ref, abs=1e-12)
    # n_queries keeps the first queries, and nDCG is over them only
    t2 = ANNSweepTask("ANN-beir", source={"kind": "beir", "path": str(folder)}, metric="model", n_queries=3)
    t2.load(None)
    sub = sweep(t2, "exact", model=model)
    per_query = retrieval.evaluate(model).sidecars["per_query_ndcg_at_10"]
    assert sub.scores["ndcg@10"] == pytest.approx(per_query[:3].mean(), abs=1e-12)


@pytest.mark.slow
def test_scifact_minilm_ndcg_equals_retrieval_task(data_root, minilm):
    """Exact search: the sweep's nDCG@10 is the SciFact task's (0.64508 after mteb's rounding)."""
    retrieval = registry.make_task("SciFact")
    retrieval.load(data_root)
    ref = retrieval.evaluate(minilm).details["scores_unrounded"]["ndcg_at_10"]
    t = registry.make_task("ANN-SciFact")
    t.set_params(repeats=1, latency_queries=10)
    t.load(data_root)
    out = t.evaluate(minilm, registry.make_index("exact"), query_points=[{}])
    assert out.scores["ndcg@10"] == pytest.approx(ref, abs=1e-12) and round(out.scores["ndcg@10"], 5) == 0.64508
    assert out.scores["recall@10"] == 1.0
    assert out.details["dataset"] == {"name": "SciFact", "kind": "beir", "n": 5183, "dim": 384, "n_queries": 300,
                                      "metric": "cosine"}


def test_bad_params_are_clear_errors():
    with pytest.raises(HarnessError, match="unknown parameter.*'nq_max'.*valid: .*n_queries"):
        ANNSweepTask("ANN-test", nq_max=3)
    with pytest.raises(HarnessError, match="parameter 'k' = 0 .*integer >= 1"):
        task(k=0)
    with pytest.raises(HarnessError, match="parameter 'repeats'"):
        task(repeats=0)
    with pytest.raises(HarnessError, match="qps_threads"):
        task(qps_threads=[0])
    with pytest.raises(HarnessError, match="metric 'model'.*beir"):
        task(metric="model")
    with pytest.raises(HarnessError, match="needs a kind in"):
        task(source={"kind": "nope"})
    t = task(n_queries=81)
    with pytest.raises(HarnessError, match="'n_queries' = 81 exceeds the 80 queries.*1..80"):
        sweep(t, "exact")
    t = task(k=2000)
    with pytest.raises(HarnessError, match="k=2000 is larger than the number of base vectors"):
        sweep(t, "exact")
    # a query point out of range fails before anything is built (the adapter's own check)
    index = registry.make_index("hnswlib")
    with pytest.raises(ValueError, match="ef"):
        task().evaluate(NoModel(), index, query_points=[{"ef": 5}])
    assert index.dim is None
    with pytest.raises(ValueError, match="unknown query parameter 'nprobe'"):
        task().evaluate(NoModel(), registry.make_index("hnswlib"), query_points=[{"nprobe": 4}])


def test_k_param_names_scores_and_index_k():
    t = task(k=5)
    assert t.index_k == 5 and t.main_score == "recall@5" and ANNSweepTask.index_k == 10
    out = sweep(t, "exact")
    assert out.scores["recall@5"] == 1.0 and "recall_tie@5" in out.details["points"][0]
    # a metric in the grid does not override the data set's: said in the notes
    out = sweep(task(), "exact", {"metric": "cosine"})
    assert out.details["index"]["build"]["metric"] == "l2" and any("'cosine'" in n for n in out.details["notes"])


def test_registry_suite_prefix_and_default_grid(tmp_path):
    from harness import index_grid
    assert registry.suite_tasks("ann") == ["ANN-SciFact", "ANN-NFCorpus", "ANN-W2V", "ANN-Synthetic100k"]
    for name in registry.suite_tasks("ann"):
        t = registry.make_task(name)
        assert t.name == name and t.sweeps_index and t.type == "ann-sweep"
    grid = registry.make_task("ANN-W2V").default_indexes()
    names = [g["name"] for g in grid]
    assert "exact" in names and "hnswlib" in names and set(names) <= set(registry.INDEXES)
    for point in index_grid.expand(index_grid.from_entries(grid, "ann_grid.json")):
        for dim in (384, 300, 96):   # every default point passes the adapter's checks on every suite data set
            registry.make_index(point.name, **point.build).check(query_points=point.query_points, dim=dim, k=10)
    x = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    t = registry.make_task(f"ann:{tmp_path / 'x.npy'}")
    t.set_params(source={**t.params["source"], "nq": 30}, repeats=1)
    t.load(None)
    out = sweep(t, "exact")
    assert out.details["dataset"]["kind"] == "npy" and out.details["dataset"]["name"] == "x.npy"
    assert out.details["dataset"]["n"] == 270 and out.details["dataset"]["n_queries"] == 30


def test_w2v_source(data_root):
    t = registry.make_task("ANN-W2V")
    t.set_params(n_queries=50, repeats=1, latency_queries=5)
    t.load(data_root)
    out = t.evaluate(NoModel(), registry.make_index("exact"), query_points=[{}])
    assert out.details["dataset"] == {"name": "w2v_googlenews_wefe_subset", "kind": "words", "n": 12513, "dim": 300,
                                      "n_queries": 50, "metric": "cosine"}
    assert out.scores["recall@10"] == 1.0


def test_measure_helpers():
    with PeakRSS() as mem:
        block = np.ones(8 * 2**20 // 8)            # 8 MiB touched inside the block
        block.sum()
    assert mem.peak_bytes >= 6 * 2**20 and mem.samples >= 1
    del block
    lat = latencies(lambda q: q.sum(), np.ones((50, 4)), cap=7)
    assert lat["n_queries"] == 7 and lat["p50"] <= lat["p99"]
    hnsw, exact = registry.make_index("hnswlib"), registry.make_index("exact")
    assert search_threads(hnsw, {"ef": 10}, 2)[:2] == ({"ef": 10, "num_threads": 2}, 2)
    assert search_threads(hnsw, {"ef": 10, "num_threads": 3}, 1)[:2] == ({"ef": 10, "num_threads": 3}, 3)
    assert search_threads(exact, {}, 2) == ({}, 2, "OpenMP/BLAS pools (threadpoolctl)")
    lance = registry.make_index("lancedb-hnsw-sq")       # its pool size is a build parameter, fixed per process
    assert search_threads(lance, {"ef": 10}, 2) == ({"ef": 10}, 1, "build parameter threads (fixed at build)")


def test_default_grid_leaves_out_points_refused_for_the_metric():
    """usearch i8 keeps only directions, so its adapter refuses l2: the l2 data set's grid drops that point
    and keeps the others; the cosine data sets keep all."""
    l2 = registry.make_task("ANN-Synthetic100k").default_indexes()
    cosine = registry.make_task("ANN-W2V").default_indexes()
    usearch = [e for e in cosine if isinstance(e, dict) and e["name"] == "usearch"]
    assert usearch and "i8" in usearch[0]["build"]["dtype"]
    kept = [e for e in l2 if isinstance(e, str) and e.startswith("usearch")]
    assert kept and all("dtype=i8" not in e for e in kept) and len(kept) == len(usearch[0]["build"]["dtype"]) - 1
    assert len([e for e in l2 if not isinstance(e, str)]) == len(cosine) - 1


def test_through_the_runner_one_build_per_job_and_shared_ground_truth(tmp_path):
    """Two build points of hnswlib and exact through plan/run_job: one job per build point, every query point
    in its result, the ground truth computed by the first job and read by the others."""
    from harness.runner import RunSettings, plan, run_job
    x = gram_schmidt_points(1200, 16, 6, np.random.default_rng(1))
    np.save(tmp_path / "x.npy", x)
    name = f"ann:{tmp_path / 'x.npy'}"
    settings = RunSettings(results_dir=str(tmp_path / "res"), data_root=None, cache_dir=str(tmp_path / "emb"),
                           progress=False, task_params={name: {"source": {"kind": "npy", "path": str(tmp_path / "x.npy"),
                                                                          "nq": 100}, "repeats": 1}})
    jobs = plan([name], ["all-MiniLM-L6-v2"], ["exact", "hnswlib(M=8,12;ef_construction=32)[ef=10,20,40]"],
                task_params=settings.task_params)
    assert len(jobs) == 3
    results = []
    for job in jobs:
        outcome = run_job(job, settings)
        assert outcome.status == "ok", outcome.error
        results.append(json.loads(open(outcome.path).read()))
    assert [r["details"]["ground_truth"]["cached"] for r in results] == [False, True, True]
    for r in results[1:]:
        assert [p["query"] for p in r["details"]["points"]] == [{"ef": 10}, {"ef": 20}, {"ef": 40}]
        assert r["task_type"] == "ann-sweep" and r["main_score"] == r["scores"]["recall@10"]
    assert {r["details"]["index"]["label"] for r in results} == {
        "exact", "hnswlib(M=8;ef_construction=32)", "hnswlib(M=12;ef_construction=32)"}
