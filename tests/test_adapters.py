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
    with pytest.raises(DataError, match="no keys file"):
        from_npy(str(tmp_path / "nokeys.npy"))


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
