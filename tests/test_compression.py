"""Issue 17: derived embeddings (truncation x quantisation), compressed search with rescoring, the sweep.

Reference implementations are sentence-transformers' own `quantize_embeddings` and `semantic_search_faiss`
on the cached MiniLM SciFact vectors (never re-encoded: the shared embedding cache holds them).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from harness import quantize as qz
from harness.errors import HarnessError


@pytest.fixture(scope="module")
def scifact(data_root, minilm):
    from tasks.retrieval import scifact as make
    task = make()
    task.load(data_root)
    q = minilm.encode(task.query_texts, role="query")
    c = minilm.encode(task.doc_texts, role="document")
    return task, q, c


@pytest.fixture(scope="module")
def st_quant():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from sentence_transformers.util import quantization
    return quantization


# -- codes --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [None, 128, 33])
def test_codes_bit_identical_to_sentence_transformers(scifact, st_quant, dim):
    _, _, c = scifact
    x = qz.truncate(c, dim, normalize=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", qz.CompressionWarning)
        ranges = qz.calibration_ranges(x)
    for prec in ("int8", "uint8", "binary", "ubinary"):
        ours = qz.quantize(x[:700], prec, ranges if prec in qz.SCALAR else None)
        theirs = st_quant.quantize_embeddings(x[:700], prec, calibration_embeddings=x)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, prec
        assert np.array_equal(ours, theirs), prec
    codes = qz.quantize(x, "int8", ranges)
    assert len(np.unique(codes)) > 200   # the codes use the range: a constant output could not pass


def test_truncation_to_full_dim_is_identity_and_shorter_is_renormalised(scifact):
    _, _, c = scifact
    assert np.array_equal(qz.truncate(c, None, True), c)
    assert np.array_equal(qz.truncate(c, c.shape[1], True), c)
    t = qz.truncate(c, 64, True)
    assert t.shape == (len(c), 64)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1, atol=1e-5)
    assert np.allclose(t * np.linalg.norm(c[:, :64], axis=1, keepdims=True), c[:, :64], atol=1e-6)
    assert np.array_equal(qz.truncate(c, 64, False), c[:, :64])


def test_decode_binary_dot_is_dim_minus_twice_hamming():
    x = np.random.default_rng(0).standard_normal((20, 37)).astype(np.float32)
    codes = qz.quantize(x, "binary")
    v = qz.decode(codes, "binary", 37)
    ham = (np.sign(x)[:, None, :] != np.sign(x)[None, :, :]).sum(-1)
    assert np.array_equal(v @ v.T, 37 - 2 * ham)
    assert qz.bytes_per_vector(37, "binary") == 5 and qz.bytes_per_vector(384, "float32") == 1536


@pytest.mark.parametrize("bad,match", [(0, "below 1"), (385, "larger than the model's dimension 384"),
                                       (-3, "below 1"), ("64", "must be an integer")])
def test_bad_dim(bad, match):
    with pytest.raises(HarnessError, match=match):
        qz.check_dim(bad, 384)


def test_unknown_precision_lists_valid():
    with pytest.raises(HarnessError, match="valid: float32, float16, int8, uint8, binary, ubinary"):
        qz.quantize(np.zeros((2, 4), np.float32), "int4")
    with pytest.raises(HarnessError, match="unknown key 'bits'"):
        qz.parse_spec("dim=64,bits=4")
    assert qz.parse_spec("int8,dim=64") == qz.parse_spec("dim=64+int8") == {"dim": 64, "precision": "int8"}
    assert qz.parse_spec("dim=full") == {"dim": None, "precision": "float32"}


def test_calibration_size_error_and_warning():
    rng = np.random.default_rng(1)
    with pytest.raises(HarnessError, match="999 vectors; .* at least 1,000"):
        qz.calibration_ranges(rng.standard_normal((999, 8)))
    with pytest.warns(qz.CompressionWarning, match="1000 vectors"):
        qz.calibration_ranges(rng.standard_normal((1000, 8)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        qz.calibration_ranges(rng.standard_normal((10_000, 8)))


# -- compressed search ----------------------------------------------------------------------------------
@pytest.mark.parametrize("precision,name", [("ubinary", "binary-hamming"), ("uint8", "int8-flat")])
@pytest.mark.parametrize("rescore", [False, True])
def test_topk_ids_equal_semantic_search_faiss(scifact, st_quant, precision, name, rescore):
    from harness.registry import make_index
    _, q, c = scifact
    q = q[:75] if rescore else q    # st's rescoring reconstructs candidates one by one in Python: slow
    corpus = st_quant.quantize_embeddings(c, precision, calibration_embeddings=c)
    hits, _ = st_quant.semantic_search_faiss(q, corpus_embeddings=corpus, corpus_precision=precision, top_k=100,
                                             calibration_embeddings=c, rescore=rescore, rescore_multiplier=4,
                                             exact=True)
    theirs = np.array([[h["corpus_id"] for h in row] for row in hits])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", qz.CompressionWarning)
        index = make_index(name, **({"code": "uint8"} if name == "int8-flat" else {})).build(c)
    ids, dist = index.search(q, 100, rescore=rescore, rescore_multiplier=4)
    assert theirs.shape == ids.shape == (len(q), 100)
    assert np.array_equal(ids, theirs)
    assert np.all(np.diff(dist, axis=1) >= 0)


def test_int8_is_the_exact_integer_dot_product(scifact):
    from harness.registry import make_index
    _, q, c = scifact
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", qz.CompressionWarning)
        ranges = qz.calibration_ranges(c)
        index = make_index("int8-flat").build(c)
    qc = qz.quantize(q[:50], "int8", ranges).astype(np.int64)
    exact = qc @ qz.quantize(c, "int8", ranges).astype(np.int64).T
    ids, dist = index.search(q[:50], 10)
    assert np.array_equal(-dist.astype(np.int64), np.take_along_axis(exact, ids, 1))
    assert np.array_equal(-dist[:, 0].astype(np.int64), exact.max(1))
    assert np.all(np.sort(exact, 1)[:, -10] == -dist[:, -1])


def test_rescore_against_float32_vectors(scifact):
    from harness.registry import make_index
    _, q, c = scifact
    index = make_index("binary-hamming", rescore_vectors="float32").build(c)
    cand, _ = index.search(q, 40)                       # the Hamming top 40
    ids, dist = index.search(q, 10, rescore=True, rescore_multiplier=4)
    scores = np.einsum("ij,ikj->ik", q, c[cand])
    want = np.take_along_axis(cand, np.argsort(-scores, axis=1, kind="stable")[:, :10], 1)
    assert np.array_equal(ids, want)
    assert index.stats()["size_bytes"] == c.nbytes + len(c) * 48


def test_index_parameter_errors():
    from harness.registry import make_index
    from adapters.indexes.base import IndexParamError
    x = np.random.default_rng(2).standard_normal((1200, 16)).astype(np.float32)
    with pytest.raises(IndexParamError, match="metric='l2'"):
        make_index("binary-hamming", metric="l2").build(x)
    with pytest.raises(IndexParamError, match="code='int4'.*int8 or uint8"):
        make_index("int8-flat", code="int4").build(x)
    with pytest.raises(IndexParamError, match="rescore_multiplier=0"):
        make_index("binary-hamming").build(x).search(x[:2], 5, rescore=True, rescore_multiplier=0)
    with pytest.raises(HarnessError, match="at least 1,000"):
        make_index("int8-flat").build(x[:500])


# -- derived-embedding model --------------------------------------------------------------------------
def test_compressed_model_meta_and_vectors(scifact, minilm):
    from adapters.models.compressed import CompressedModel, from_spec
    from harness.cache import model_cache_key
    task, q, _ = scifact
    a = CompressedModel(minilm, dim=64, precision="binary")
    b = CompressedModel(minilm, dim=128, precision="binary")
    full = CompressedModel(minilm)
    assert a.meta["name"] == "all-MiniLM-L6-v2@dim=64+binary" and a.meta["dim"] == 64
    assert len({model_cache_key(m.meta) for m in (a, b, full, minilm)}) == 4
    assert np.array_equal(full.encode(task.query_texts[:20]), q[:20])
    want = qz.decode(qz.quantize(qz.truncate(q[:20], 64, True), "binary"), "binary", 64)
    assert np.array_equal(a.encode(task.query_texts[:20], role="query"), want)
    assert set(np.unique(want)) == {-1.0, 1.0}
    with pytest.raises(HarnessError, match="int8 needs calibration ranges"):
        CompressedModel(minilm, dim=64, precision="int8")
    with pytest.raises(HarnessError, match="larger than the model's dimension 384"):
        CompressedModel(minilm, dim=512)
    prefixed = from_spec("all-MiniLM-L6-v2@dim=64+binary")
    assert prefixed.meta["name"] == a.meta["name"] and prefixed.meta["revision"] == a.meta["revision"]


# -- the sweep ----------------------------------------------------------------------------------------
def test_scifact_sweep_reproduces_float32_and_records_bytes(data_root, minilm, tmp_path):
    from harness.registry import make_task
    from tasks.plots.compression import plot_quality_vs_bytes, table_compression
    task = make_task("Compression-SciFact")
    task.set_params(dims=["full", 64], precisions=["float32", "int8", "binary"], rescore_multipliers=[None, 4],
                    search_repeats=1)
    task.load(data_root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", qz.CompressionWarning)
        out = task.evaluate(minilm)
    s = out.scores
    assert round(s["full_float32_off_score"], 5) == 0.64508
    assert s["full_float32_off_pct_of_float32"] == 100.0
    assert s["full_int8_off_bytes_per_vector"] * 4 == s["full_float32_off_bytes_per_vector"]
    assert s["full_binary_off_bytes_per_vector"] * 32 == s["full_float32_off_bytes_per_vector"]
    assert s["full_binary_r4_score"] > s["full_binary_off_score"]      # rescoring recovers quality
    assert s["64_float32_off_score"] < s["full_float32_off_score"]
    assert "full_float32_r4_score" not in s and len(out.details["points"]) == 10
    assert out.details["calibration"]["set"] == "corpus" and out.details["calibration"]["n"] == 5183
    result = {"task": task.name, "model": "all-MiniLM-L6-v2", "status": "ok", "details": out.details}
    paths = plot_quality_vs_bytes([result], [], tmp_path)
    assert len(paths) == 1 and paths[0].stat().st_size > 1000
    (table,) = table_compression([result], [])
    assert len(table["rows"]) == 10 and table["rows"][0][:3] == ["full", "float32", "off"]
    pareto = {(r[0], r[1], r[2]) for r in table["rows"] if r[-1]}
    assert {("full", "float32", "off"), ("64", "binary", "r=4")} <= pareto
    assert ("64", "binary", "off") not in pareto     # same bytes as r=4, lower score: dominated


def test_sts_sweep_full_float32_equals_the_sts_task(data_root, minilm):
    from harness.registry import make_task
    from tasks.sts import stsbenchmark
    task = make_task("Compression-STSBenchmark")
    task.set_params(dims=["full", 32], precisions=["float32", "int8"], rescore_multipliers=[None, 4])
    task.load(data_root)
    with pytest.warns(qz.CompressionWarning, match="2.* vectors"):
        out = task.evaluate(minilm)
    plain = stsbenchmark()
    plain.load(data_root)
    assert out.scores["full_float32_off_score"] == plain.evaluate(minilm).scores["cosine_spearman"]
    assert {k.rsplit("_off_", 1)[0] for k in out.scores} == {"full_float32", "full_int8", "32_float32", "32_int8"}
    assert "32_int8_off_search_qps" not in out.scores and out.details["points"][-1]["search_qps"] is None


def test_sweep_parameter_errors(data_root):
    from harness.registry import make_task
    task = make_task("Compression-SciFact")
    with pytest.raises(HarnessError, match="unknown precision in task parameter 'precisions' 'int4'"):
        task.set_params(precisions=["int4"]).check_params()
    task = make_task("Compression-SciFact").set_params(dims=[1024])
    with pytest.raises(HarnessError, match="dims entry=1024 is larger than the model's dimension 384"):
        task.check_params(384)
    with pytest.raises(HarnessError, match="rescore_multipliers holds 0"):
        make_task("Compression-SciFact").set_params(rescore_multipliers=[0]).check_params()


def test_default_dims_stay_below_the_model_dimension():
    from harness.registry import make_task
    task = make_task("Compression-STSBenchmark")
    assert task.dims(384) == ["full", 256, 128, 64, 32]
    assert task.dims(64) == ["full", 32]
    assert [p[:2] for p in task.points(64, searchable=False)][::4] == [("full", 64), (32, 32)]
