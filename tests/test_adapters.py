"""Model adapters: meta, encode contract, precomputed and word vectors, word similarity task."""
from __future__ import annotations

import numpy as np
import pytest

from adapters.models.callable import CallableModel
from adapters.models.precomputed import PrecomputedModel, from_npy
from adapters.models.word_vectors import from_folder
from harness.errors import DataError, HarnessError
from harness.runner import JobSpec, RunSettings, run_job
from tasks.word_similarity import simlex999, wordsim353


def test_callable_passes_role_when_accepted():
    seen = []

    def fn(texts, role=None):
        seen.append(role)
        return np.ones((len(texts), 3))
    m = CallableModel(fn, name="c", dim=3)
    assert m.encode(["a", "b"], role="query").shape == (2, 3) and seen == ["query"]
    assert set(m.meta) >= {"name", "revision", "dim", "similarity", "normalized", "max_seq_len"}


def test_precomputed_dict_and_npy(tmp_path):
    m = PrecomputedModel.from_dict({"a": [1, 0], "b": [0, 1]}, name="p")
    np.testing.assert_array_equal(m.encode(["b", "a"]), [[0, 1], [1, 0]])
    with pytest.raises(HarnessError, match="no vector for 1 text"):
        m.encode(["zzz"])
    np.save(tmp_path / "v.npy", np.eye(3, dtype=np.float32))
    (tmp_path / "v.ids.txt").write_text("x\ny\nz\n")
    m2 = from_npy(str(tmp_path / "v.npy"))
    assert m2.meta["dim"] == 3 and m2.meta["revision"].startswith("sha256:")
    np.testing.assert_array_equal(m2.encode(["z"]), [[0, 0, 1]])
    np.save(tmp_path / "nokeys.npy", np.eye(2, dtype=np.float32))
    with pytest.raises(DataError, match="no keys file"):
        from_npy(str(tmp_path / "nokeys.npy"))


def test_missing_vectors_file_is_named_before_keys(tmp_path):
    """`--models vectors:/nonexistent.npy` names the vectors file, not a keys file (issue 13)."""
    from harness.registry import make_model
    with pytest.raises(DataError, match="nonexistent.npy: precomputed vectors: file not found"):
        make_model(f"vectors:{tmp_path / 'nonexistent.npy'}")
    with pytest.raises(DataError, match="v.npy: word vectors: file not found"):
        make_model(f"words:{tmp_path / 'v.npy'},{tmp_path / 'vocab.txt'}")
    np.save(tmp_path / "v.npy", np.eye(2, dtype=np.float32))
    with pytest.raises(DataError, match=r"k.txt: keys file not found"):
        make_model(f"vectors:{tmp_path / 'v.npy'},{tmp_path / 'k.txt'}")


def test_bad_rows_are_located_by_key(tmp_path):
    v = np.eye(3, dtype=np.float32)
    v[1, 1] = np.nan
    np.save(tmp_path / "v.npy", v)
    (tmp_path / "v.ids.txt").write_text("x\ny\nz\n")
    with pytest.raises(HarnessError, match=r"row 1 \(key 'y', line 2 of .*v.ids.txt\)"):
        from_npy(str(tmp_path / "v.npy"))
    np.save(tmp_path / "v.npy", np.eye(3, dtype=np.float32))
    (tmp_path / "v.ids.txt").write_text("x\ny\n")
    with pytest.raises(DataError, match="3 rows but 2 keys"):
        from_npy(str(tmp_path / "v.npy"))


def test_pickled_npy_refused(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "o.txt").write_text("a\n")
    with pytest.raises(DataError, match="not a plain numeric"):
        from_npy(str(tmp_path / "o.npy"))


def test_word_vectors_lookup_and_mean(data_root):
    wv = from_folder(str(data_root / "w2v_googlenews_wefe_subset"))
    vecs, found = wv.lookup(["king", "queen", "notaword_zz"])
    assert found.tolist() == [True, True, False] and not vecs[2].any()
    assert wv.meta["dim"] == 300
    sent = wv.encode(["king queen"])
    np.testing.assert_allclose(sent[0], vecs[:2].astype(np.float64).mean(0), rtol=1e-6)


@pytest.mark.parametrize("factory,n_pairs", [(wordsim353, 353), (simlex999, 999)])
def test_word_similarity_with_w2v(data_root, w2v, factory, n_pairs):
    from scipy.stats import spearmanr
    task = factory()
    task.load(data_root)
    out = task.evaluate(w2v)
    d = out.details
    assert d["n_pairs"] == n_pairs and d["n_covered"] + d["n_oov_pairs"] == n_pairs
    # independent recomputation of the covered pairs
    w1 = [r[0] for r in task.rows]
    w2 = [r[1] for r in task.rows]
    a, fa = w2v.lookup(w1)
    b, fb = w2v.lookup(w2)
    keep = fa & fb
    cos = (a[keep] * b[keep]).sum(1) / np.linalg.norm(a[keep], axis=1) / np.linalg.norm(b[keep], axis=1)
    gold = np.array([r[2] for r in task.rows])[keep]
    assert out.scores["spearman"] == pytest.approx(spearmanr(gold, cos)[0], abs=1e-6)
    assert 0.2 < out.scores["spearman"] < 0.9  # word2vec's known range on these sets


def test_word_similarity_through_runner(data_root, tmp_path):
    s = RunSettings(results_dir=str(tmp_path), data_root=str(data_root), cache_dir=str(tmp_path / "c"),
                    progress=False)
    o = run_job(JobSpec("w2v-googlenews-subset", "SimLex999"), s)
    assert o.status == "ok", o.error
    assert o.main_score_name == "spearman"


def test_static_model_meta_known_before_loading():
    pytest.importorskip("model2vec")
    pytest.importorskip("static_model")
    from adapters.models.static_model2vec import tokenlearn_static
    m = tokenlearn_static()
    dim_before = m.meta["dim"]
    v = m.encode(["A man is eating food.", "A man is eating a piece of bread."])
    assert v.shape == (2, dim_before) == (2, 64)
    cos = float(v[0] @ v[1] / np.linalg.norm(v[0]) / np.linalg.norm(v[1]))
    assert 0.5 < cos < 0.75  # environment.md measured 0.62 for this weak static model


def _fake_w2v_root(tmp_path):
    folder = tmp_path / "root" / "w2v_googlenews_wefe_subset"
    folder.mkdir(parents=True)
    np.save(folder / "vectors.npy", np.arange(10, dtype=np.float32).reshape(2, 5) + 1)
    (folder / "vocab.txt").write_text("king\nqueen\n")
    return tmp_path / "root"


def test_data_root_reaches_model_factories(tmp_path, monkeypatch):
    """`make_model(name, data_root=...)` (the runner's --data-root) is what the factory reads."""
    from harness.registry import make_model
    monkeypatch.delenv("HARNESS_DATA", raising=False)
    m = make_model("w2v-googlenews-subset", data_root=_fake_w2v_root(tmp_path))
    assert m.meta["dim"] == 5 and m.vocab == ["king", "queen"]
    with pytest.raises(DataError, match="cbn_weat_glove/item_vectors.npy: word vectors: file not found"):
        make_model("glove-cbn-items", data_root=tmp_path / "root")


def _adapters(data_root_or_none, tmp_path):
    """One instance of every adapter kind that works offline here (name, model, texts)."""
    from adapters.models.sentence_transformers import packaged_minilm
    from tests.toy_models import hash_model
    out = [("callable", CallableModel(lambda t: np.ones((len(t), 4)), name="c", dim=4), ["a b", "c"]),
           ("toy", hash_model(), ["a b", "c"]),
           ("precomputed", PrecomputedModel.from_dict({"a b": [1, 0], "c": [0, 1]}, name="p"), ["a b", "c"]),
           ("words", from_folder(str(_fake_w2v_root(tmp_path) / "w2v_googlenews_wefe_subset")), ["king", "queen"]),
           ("sentence-transformers", packaged_minilm(), ["A man is eating food.", "A man rides a horse."])]
    if data_root_or_none is not None:
        from adapters.models.glove_cbn import glove_cbn_items
        out.append(("glove", glove_cbn_items(data_root=data_root_or_none), ["Adam", "Harry"]))
    try:
        from adapters.models.static_model2vec import tokenlearn_static
        out.append(("model2vec", tokenlearn_static(), ["A man is eating food."]))
    except HarnessError:
        pass
    return out


def test_meta_is_fixed_at_construction(tmp_path):
    """Everything that changes a vector is in `meta` before the first encode and never changes."""
    import copy

    from tests.conftest import SHARED_DATA
    for kind, model, texts in _adapters(SHARED_DATA if SHARED_DATA.is_dir() else None, tmp_path):
        before = copy.deepcopy(model.meta)
        vecs = model.encode(texts)
        vecs = model.encode(texts[:1])
        assert model.meta == before, kind
        if before["dim"] is not None:
            assert vecs.shape[1] == before["dim"], kind


def test_sentence_transformers_meta_from_config_files(tmp_path):
    """dim after pooling modes and Dense, max length, normalisation, pooling, default prompt: all
    from the folder's files, without torch; a hub id's meta depends on the id alone."""
    import json

    from adapters.models.sentence_transformers import SentenceTransformerModel, packaged_minilm
    m = packaged_minilm()
    assert (m.meta["dim"], m.meta["max_seq_len"], m.meta["normalized"], m.meta["pooling"]) == (384, 256, True, "mean")
    assert m.meta["batching"] and m.meta["revision"].startswith("sha256:")
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "2_Dense").mkdir()
    (tmp_path / "modules.json").write_text(json.dumps([
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"path": "2_Dense", "type": "sentence_transformers.models.Dense"}]))
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 8, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": True}))
    (tmp_path / "2_Dense" / "config.json").write_text(json.dumps({"in_features": 16, "out_features": 4}))
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps(
        {"prompts": {"query": "query: ", "document": ""}, "default_prompt_name": "query", "similarity_fn_name": "dot"}))
    local = SentenceTransformerModel(str(tmp_path))
    assert (local.meta["dim"], local.meta["pooling"], local.meta["normalized"], local.meta["max_seq_len"]) == \
        (4, "cls+mean", False, None)
    assert local.meta["prompts"] == {"default": "query: "} and local.meta["similarity"] == "dot"
    hub = SentenceTransformerModel("org/not-downloaded", revision="abc")
    assert (hub.meta["dim"], hub.meta["max_seq_len"], hub.meta["normalized"], hub.meta["revision"]) == \
        (None, None, None, "abc")


def test_adapter_modules_import_without_torch():
    import subprocess
    import sys
    code = ("import sys, adapters.models.sentence_transformers as s, adapters.models.static_model2vec, "
            "adapters.models.precomputed, adapters.models.word_vectors, adapters.models.glove_cbn; "
            "s.packaged_minilm(); print(sorted(m for m in ('torch', 'sentence_transformers', 'model2vec') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    assert out.stdout.strip() == "[]"


def test_plan_batches_one_length_per_batch():
    from adapters.models.st_batching import plan_batches
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 40, size=500)
    plan = plan_batches(lengths, max_rows=16, min_tokens=64)
    rows = np.concatenate([r for r, _ in plan])
    assert sorted(rows.tolist()) == list(range(500))
    for r, fill in plan:
        assert len(set(lengths[r].tolist())) == 1 and 1 <= len(r) <= 16
        assert (len(r) + fill) * lengths[r[0]] >= 64 and (fill == 0 or (len(r) + fill - 1) * lengths[r[0]] < 64)
    assert [lengths[r[0]] for r, _ in plan] == sorted((lengths[r[0]] for r, _ in plan), reverse=True)
    with pytest.raises(ValueError, match="at least 1"):
        plan_batches(lengths, max_rows=0)
