"""Retrieval task and IR metrics on small hand-made inputs (fast; no model, no shared data)."""
from __future__ import annotations

import hashlib
import json
import math
import warnings

import numpy as np
import pytest

from harness import registry
from harness.errors import DataError, EmbeddingError, HarnessError
from tasks.metrics.ir import mrr_per_query, mteb_rounded, pytrec_per_query, ranked, retrieval_scores
from adapters.indexes.hnswlib_index import HnswlibIndex
from tasks.retrieval import RetrievalDataWarning, RetrievalTask, from_folder

# -- metrics: the hand-checked pytrec_eval case of methods.md §5.4 ----------------------------------
QRELS = {"q1": {"d1": 2, "d2": 1, "d3": 0, "d5": 1}}
RUN = {"q1": {"d1": 0.5, "d2": 0.9, "d4": 0.7, "d3": 0.6}}


def test_methods_5_4_reference_case():
    m = pytrec_per_query(QRELS, RUN, (3, 10))["q1"]
    assert m["ndcg_at_10"] == pytest.approx((1 + 2 / math.log2(5)) / (2 + 1 / math.log2(3) + 1 / math.log2(4)), abs=1e-12)
    assert m["ndcg_at_10"] == pytest.approx(0.594505, abs=1e-6)
    assert m["ndcg_at_3"] == pytest.approx(0.319394, abs=1e-6)
    assert m["recall_at_10"] == pytest.approx(0.666667, abs=1e-6)
    assert m["precision_at_10"] == pytest.approx(0.2, abs=1e-12)
    assert m["map_at_10"] == pytest.approx(0.5, abs=1e-12)
    assert m["hit_rate_at_10"] == 1.0
    assert mrr_per_query(QRELS, RUN, (10,))["q1"]["mrr_at_10"] == 1.0   # trec recip_rank = 1.0 (d2 first)


def test_methods_5_4_tie_case_ranks_higher_doc_id_first():
    tie = {"q1": {"d1": 0.5, "d2": 0.5}}
    assert pytrec_per_query(QRELS, tie, (10,))["q1"]["ndcg_at_10"] == pytest.approx(0.722424, abs=1e-6)
    assert [d for d, _ in ranked(tie["q1"])] == ["d2", "d1"]
    # MRR uses the same tie-break: d2 (grade 1) first -> 1.0; with d2 irrelevant it is d1 at rank 2
    assert mrr_per_query({"q1": {"d1": 1}}, tie, (1, 10))["q1"] == {"mrr_at_1": 0.0, "mrr_at_10": 0.5}


def test_scores_average_rounding_and_dropped_queries():
    qrels = {"q1": QRELS["q1"], "q2": {"d9": 1}, "q3": {"d1": 1}}
    run = {"q1": RUN["q1"], "q2": {"d9": 0.1, "d1": 0.2}}       # q3 not in the run: dropped, not 0
    raw, per_q = retrieval_scores(qrels, run, (1, 3, 10), rounding=None)
    assert set(per_q) == {"q1", "q2"}
    assert raw["ndcg_at_10"] == pytest.approx((0.594505 + 1 / math.log2(3)) / 2, abs=1e-6)
    assert raw["mrr_at_10"] == pytest.approx((1.0 + 0.5) / 2)
    assert raw["accuracy"] == raw["recall_at_1"]
    rounded = mteb_rounded(raw)
    for key, value in raw.items():
        if key.startswith(("mrr", "nauc")):
            assert rounded[key] is value                      # mteb stores MRR and nAUC unrounded
        else:
            assert rounded[key] == round(value, 5)
    again = retrieval_scores(qrels, run, (1, 3, 10))[0]
    assert again.keys() == rounded.keys()
    assert all(again[k] == v or (math.isnan(again[k]) and math.isnan(v)) for k, v in rounded.items())


# -- a tiny BEIR folder and a deterministic fake model ---------------------------------------------
class HashModel:
    """Deterministic 'embeddings': documents share a topic direction with the query that names them."""

    def __init__(self, dim=16, similarity="cosine", nan_for=None, query_dim=None, zero_for=None):
        self.meta = {"name": "hash-model", "revision": "1", "dim": dim, "similarity": similarity}
        self.dim, self.nan_for, self.query_dim, self.zero_for = dim, nan_for, query_dim, zero_for

    def encode(self, texts, *, role=None, batch_size=None):
        dim = self.query_dim if (role == "query" and self.query_dim) else self.dim
        out = np.zeros((len(texts), dim), np.float32)
        for i, t in enumerate(texts):
            topic = int(t.split("topic")[1].split()[0]) if "topic" in t else 0
            rng = np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16))
            out[i] = 0.3 * rng.standard_normal(dim)
            out[i, topic % dim] += 1.0
            if self.nan_for and self.nan_for in t:
                out[i, 0] = np.nan
            if self.zero_for and self.zero_for in t:
                out[i] = 0
        return out


def write_beir(folder, docs, queries, qrels_lines, crlf=True):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "qrels").mkdir(exist_ok=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for q in queries:
            f.write(json.dumps(q) + "\n")
    eol = "\r\n" if crlf else "\n"
    with open(folder / "qrels" / "test.tsv", "w", newline="") as f:
        f.write(eol.join(["query-id\tcorpus-id\tscore"] + qrels_lines) + eol)
    return folder


def small_set(tmp_path, n_docs=40, **kw):
    docs = [{"_id": f"d{i}", "title": f"Doc {i}", "text": f"about topic{i % 8} number {i}"} for i in range(n_docs)]
    queries = [{"_id": f"q{t}", "text": f"question on topic{t}"} for t in range(8)] + [{"_id": "qx", "text": "no qrels"}]
    qrels = [f"q{t}\td{i}\t{1 + (i // 8) % 2}" for t in range(8) for i in range(n_docs) if i % 8 == t and i < 24]
    return write_beir(tmp_path / "beir", docs, queries, qrels, **kw)


def test_crlf_qrels_load_and_beir_prefix(tmp_path):
    folder = small_set(tmp_path, crlf=True)
    task = registry.make_task(f"beir:{folder}")
    assert isinstance(task, RetrievalTask) and task.name == f"beir:{folder}" and task.uses_index
    rec = task.load(None)
    assert set(rec.sha256) == {"corpus.jsonl", "queries.jsonl", "qrels/test.tsv"}
    assert task.query_ids == [f"q{t}" for t in range(8)]          # qx has no qrels: not evaluated
    assert task.qrels["q1"] == {"d1": 1, "d9": 2, "d17": 1}          # no '\r' left in ids or grades
    assert task.doc_texts[3] == "Doc 3 about topic3 number 3"      # (title + " " + text).strip()
    lf = small_set(tmp_path / "lf", crlf=False)
    t2 = from_folder(str(lf))
    t2.load(None)
    assert t2.qrels == task.qrels


def test_evaluate_exact_against_bruteforce_run(tmp_path):
    task = from_folder(str(small_set(tmp_path)))
    task.load(None)
    model = HashModel()
    out = task.evaluate(model)
    # independent run: numpy cosine over all documents
    q = model.encode(task.query_texts, role="query")
    d = model.encode(task.doc_texts, role="document")
    q, d = q / np.linalg.norm(q, axis=1, keepdims=True), d / np.linalg.norm(d, axis=1, keepdims=True)
    sims = q @ d.T
    run = {qid: {task.doc_ids[j]: float(sims[i, j]) for j in range(len(task.doc_ids))}
           for i, qid in enumerate(task.query_ids)}
    ref, _ = retrieval_scores(task.qrels, run, (1, 3, 5, 10, 20, 100, 1000), rounding=None)
    for key, value in ref.items():
        assert out.details["scores_unrounded"][key] == pytest.approx(value, abs=1e-6, nan_ok=True), key
        assert out.scores[key] == pytest.approx(mteb_rounded(ref)[key], abs=1e-6, nan_ok=True), key
    assert out.scores["index_recall_at_10"] == 1.0
    assert out.details["k_searched"] == 40 and out.details["metric"] == "ip"
    assert out.sidecars["per_query_ndcg_at_10"].shape == (8,)


def test_evaluate_with_ann_index_reports_recall_vs_exact(tmp_path):
    task = from_folder(str(small_set(tmp_path)), ann_top_k=20)
    task.load(None)
    out = task.evaluate(HashModel(), registry.make_index("hnswlib"))
    assert max(int(k.rsplit("_", 1)[1]) for k in out.scores if k.startswith("ndcg_at_")) == 20
    assert 0.0 <= out.scores["index_recall_at_10"] <= out.scores["index_recall_tie_at_10"] <= 1.0
    assert out.scores["index_recall_at_10"] > 0.9                   # 40 documents: HNSW is near-exact
    assert out.scores["exact_ndcg_at_10"] == task.evaluate(HashModel()).scores["ndcg_at_10"]
    assert out.sidecars["per_query_index_recall_at_10"].shape == (8,)
    t = from_folder(str(small_set(tmp_path / "ef")), ann_top_k=30)
    t.load(None)
    with pytest.raises(ValueError, match="ef must be >= k"):
        t.evaluate(HashModel(), HnswlibIndex(ef=25))


def test_ignore_identical_ids(tmp_path):
    docs = [{"_id": "a", "title": "", "text": "topic1 a"}, {"_id": "b", "title": "", "text": "topic1 b"},
            {"_id": "c", "title": "", "text": "topic2 c"}]
    folder = write_beir(tmp_path / "ii", docs, [{"_id": "a", "text": "topic1 query"}], ["a\tb\t1"])
    plain = from_folder(str(folder))
    plain.load(None)
    same = from_folder(str(folder), ignore_identical_ids=True)
    same.load(None)
    s_plain = plain.evaluate(HashModel()).scores
    s_same = same.evaluate(HashModel()).scores
    assert s_same["recall_at_1"] == 1.0            # doc "a" (== query id) removed, b ranks first
    assert s_plain["recall_at_1"] in (0.0, 1.0) and s_same["ndcg_at_10"] >= s_plain["ndcg_at_10"]


# -- bad input ------------------------------------------------------------------------------------
def test_unknown_queries_and_docs_in_qrels_warn_with_counts(tmp_path):
    docs = [{"_id": f"d{i}", "title": "", "text": f"topic{i}"} for i in range(5)]
    folder = write_beir(tmp_path / "u", docs, [{"_id": "q1", "text": "topic1"}],
                        ["q1\td1\t1", "q1\tmissing1\t1", "qZ\td2\t1", "qZ\td3\t1", "qY\tmissing2\t1"])
    task = from_folder(str(folder))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task.load(None)
    messages = [str(w.message) for w in caught if issubclass(w.category, RetrievalDataWarning)]
    assert any("3 qrels row(s) name 2 query id(s) absent" in m for m in messages), messages
    assert any("2 qrels row(s) name 2 document id(s) absent" in m for m in messages), messages
    assert task.query_ids == ["q1"] and task.qrels["q1"] == {"d1": 1, "missing1": 1}  # unknown doc kept
    assert task.data_notes["qrels_unknown_queries"] == 2
    out = task.evaluate(HashModel())
    assert out.scores["recall_at_1000"] == 0.5     # the unknown doc is relevant but unretrievable


@pytest.mark.parametrize("which,line", [("corpus", 3), ("queries", 2)])
def test_duplicate_ids_error_names_id_and_line(tmp_path, which, line):
    docs = [{"_id": "d1", "text": "x"}, {"_id": "d2", "text": "y"}, {"_id": "d1" if which == "corpus" else "d3",
                                                                        "text": "z"}]
    queries = [{"_id": "q1", "text": "a"}, {"_id": "q1" if which == "queries" else "q2", "text": "b"}]
    folder = write_beir(tmp_path / which, docs, queries, ["q1\td1\t1"])
    with pytest.raises(DataError) as e:
        from_folder(str(folder)).load(None)
    dup = "d1" if which == "corpus" else "q1"
    assert f"duplicate {'document' if which == 'corpus' else 'query'} id {dup!r} (first at line 1)" in str(e.value)
    assert e.value.line == line and e.value.path.endswith(f"{which}.jsonl")


def test_empty_corpus_and_bad_qrels(tmp_path):
    folder = write_beir(tmp_path / "e", [], [{"_id": "q1", "text": "a"}], ["q1\td1\t1"])
    with pytest.raises(DataError, match="empty corpus"):
        from_folder(str(folder)).load(None)
    docs = [{"_id": "d1", "text": "x"}]
    for lines, message, line in ((["q1\td1\tfoo"], "score is not a number", 3),
                                 (["q1\td1"], "expected 3 tab-separated columns", 2),
                                 (["q1\td1\t0.5"], "integer relevance grade", 2),
                                 (["q1\td1\t1", "q1\td1\t2"], "conflicting grades", 3)):
        folder = write_beir(tmp_path / f"b{len(message)}", docs, [{"_id": "q1", "text": "a"}],
                            ["q1\td1\t1"] + lines if message.startswith("score") else lines)
        with pytest.raises(DataError, match=message) as e:
            from_folder(str(folder)).load(None)
        assert e.value.line == line
    folder = write_beir(tmp_path / "m", [{"_id": "d1"}], [{"_id": "q1", "text": "a"}], ["q1\td1\t1"])
    with pytest.raises(DataError, match="missing field 'text'"):
        from_folder(str(folder)).load(None)
    with pytest.raises(DataError, match="no qrels for split 'test'"):
        (folder / "qrels" / "test.tsv").rename(folder / "qrels" / "dev.tsv")
        from_folder(str(folder)).load(None)


def test_dim_mismatch_and_non_finite_vectors(tmp_path):
    task = from_folder(str(small_set(tmp_path)))
    task.load(None)
    with pytest.raises(HarnessError, match="query embeddings have dim 8 but document embeddings have dim 16"):
        task.evaluate(HashModel(query_dim=8))
    with pytest.raises(EmbeddingError, match=r"non-finite value .* in row 5 \(document 'd5', .*corpus.jsonl line 6\)"):
        task.evaluate(HashModel(nan_for="number 5"))
    with pytest.raises(EmbeddingError, match=r"row 3 \(query 'q3', .*queries.jsonl line 4\) is a zero vector"):
        task.evaluate(HashModel(zero_for="question on topic3"))
    with pytest.raises(HarnessError, match="unsupported similarity"):
        task.evaluate(HashModel(similarity="hamming"))


def test_memmapped_corpus_in_chunks_gives_same_scores(tmp_path):
    task = from_folder(str(small_set(tmp_path)), encode_chunk_size=7, max_memory_mb=0.001)
    task.load(None)
    ref = from_folder(str(small_set(tmp_path / "r")))
    ref.load(None)
    assert task.evaluate(HashModel()).scores == pytest.approx(ref.evaluate(HashModel()).scores, rel=0, abs=0,
                                                              nan_ok=True)


def test_hub_loader_path_with_fake_datasets(monkeypatch):
    """The real-download path (no data root, hub allowed) reads mteb's BEIR configs corpus/queries/default."""
    import datasets
    tables = {
        "corpus": [{"_id": "d1", "title": "T", "text": "topic1 x"}, {"_id": "d2", "title": None, "text": "topic2 y"}],
        "queries": [{"_id": "q1", "text": "topic1 q"}, {"_id": "q2", "text": "no qrels"}],
        "default": [{"query-id": "q1", "corpus-id": "d1", "score": 1}],
    }
    calls = []

    def fake_load(hub_id, config, split, revision):
        calls.append((hub_id, config, split, revision))
        return datasets.Dataset.from_list(tables[config])

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    monkeypatch.setattr(datasets, "get_dataset_split_names", lambda hub_id, config, revision=None: [config])
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    task = registry.make_task("SciFact")
    rec = task.load(None)
    assert rec.source == "hub" and rec.sha256["revision"] == "d56462d0e63a25450459c4f213e49ffdb866f7f9"
    assert {c[1] for c in calls} == {"corpus", "queries", "default"} and calls[0][0] == "mteb/scifact"
    assert task.doc_texts == ["T topic1 x", "topic2 y"] and task.query_ids == ["q1"]
    assert task.evaluate(HashModel()).scores["recall_at_1"] == 1.0


def test_no_data_root_and_hub_disabled_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HarnessError, match="no data root"):
        registry.make_task("NFCorpus").load(None)


def test_nauc_properties():
    from tasks.metrics.ir import confidence_scores, nauc
    metric = np.array([0.0, 0.0, 0.2, 0.5, 1.0, 1.0])
    assert nauc(metric * 3 + 1, metric) == pytest.approx(1.0)          # confidence ranks like an oracle
    assert nauc(np.ones(6), metric) == pytest.approx(0.0)              # one tie group: flat curve
    assert nauc(-metric, metric) < 0                                    # confidence backwards
    assert math.isnan(nauc(np.arange(6.0), np.full(6, 0.5)))            # every query scores alike
    assert confidence_scores({"a": 0.9, "b": 0.5, "c": 0.7}) == pytest.approx(
        {"max": 0.9, "std": float(np.std([0.9, 0.5, 0.7])), "diff1": 0.2})
    assert confidence_scores({}) == {"max": 0.0, "std": 0.0, "diff1": 0.0}
    assert confidence_scores({"a": 0.3})["diff1"] == 0.0


def test_nauc_in_retrieval_scores():
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}}
    run = {"q1": {"d1": 0.9, "d2": 0.1}, "q2": {"d1": 0.5, "d2": 0.4}, "q3": {"d1": 0.3, "d2": 0.2}}
    scores, _ = retrieval_scores(qrels, run, [1, 10])
    assert sum(k.startswith("nauc_") for k in scores) == 5 * 2 * 3      # 5 families x 2 k x 3 confidences
    assert "nauc_hit_rate_at_1_max" not in scores
    # q1 (right at rank 1) is the most confident by max and diff1: nAUC 1 for nDCG@1
    assert scores["nauc_ndcg_at_1_max"] == pytest.approx(1.0) and scores["nauc_ndcg_at_1_diff1"] == pytest.approx(1.0)


# --- per-item results (issue 16) ------------------------------------------------------------------
def test_items_sidecar_holds_every_per_query_metric(tmp_path):
    """One row per evaluated query, one column per per-query metric: each column's mean is the unrounded score
    (rounded as mteb stores it, the stored score); accuracy is recall@1; an ANN run declares only its k values."""
    from .item_checks import assert_items_reproduce
    task = from_folder(str(small_set(tmp_path)))
    task.load(None)
    out = task.evaluate(HashModel())
    declared = assert_items_reproduce(task, out, out.details["scores_unrounded"], n_items=8)
    prefixes = ("ndcg_at", "map_at", "recall_at", "precision_at", "hit_rate_at", "mrr_at")
    assert len(declared["columns"]) == len(prefixes) * 7 and "ndcg_at_10" in declared["columns"]
    assert declared["scores"]["accuracy"] == {"statistic": "mean", "columns": ["recall_at_1"]}
    assert set(declared["scores"]) == {*declared["columns"], "accuracy"}
    items = out.sidecars["items"]
    ndcg10 = items[:, declared["columns"].index("ndcg_at_10")]
    assert ndcg10.tolist() == out.sidecars["per_query_ndcg_at_10"].tolist()
    assert round(float(ndcg10.mean()), 5) == out.scores["ndcg_at_10"]
    ann = from_folder(str(small_set(tmp_path / "ann")), ann_top_k=20)
    ann.load(None)
    out = ann.evaluate(HashModel(), registry.make_index("hnswlib"))
    declared = assert_items_reproduce(ann, out, out.details["scores_unrounded"], n_items=8)
    assert max(int(c.rsplit("_", 1)[1]) for c in declared["columns"]) == 20
