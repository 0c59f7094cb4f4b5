"""IntrinsicDimension-* and Spectrum-* tasks end to end: registry, runner, result file, sidecars, plots."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from harness import registry
from harness.errors import DataError, HarnessError
from tasks.metrics import intrinsic_dim as ID
from tasks.metrics import spectrum as S

GEOMETRY_TASKS = [f"{family}-{source}" for family in ("IntrinsicDimension", "Spectrum")
                  for source in ("Banking77", "Emotion", "SciFact", "ModelVectors")]


def test_registered():
    for name in GEOMETRY_TASKS:
        task = registry.make_task(name)
        assert task.name == name
        assert task.main_score in ("mle", "rankme")
        assert task.type in ("intrinsic-dimension", "spectrum")


@pytest.fixture(scope="module")
def w2v_results(data_root, tmp_path_factory):
    """The w2v subset model through the real runner: its own vectors and its Banking77 text embeddings."""
    from harness.runner import JobSpec, RunSettings, run_job
    from tests.conftest import CACHE_DIR
    out = tmp_path_factory.mktemp("results")
    settings = RunSettings(results_dir=str(out), data_root=str(data_root), cache_dir=str(CACHE_DIR), progress=False)
    outcomes = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for task in ("IntrinsicDimension-ModelVectors", "Spectrum-ModelVectors", "IntrinsicDimension-Banking77"):
            o = run_job(JobSpec("w2v-googlenews-subset", task), settings)
            assert o.status == "ok", o.error
            outcomes[task] = Path(o.path)
    return outcomes


def test_intrinsic_dimension_on_model_vectors(w2v_results, w2v):
    path = w2v_results["IntrinsicDimension-ModelVectors"]
    result = json.loads(path.read_text())
    X = w2v.all_vectors()
    expected, lid, _ = ID.estimate_all(X, 20)
    assert result["main_score_name"] == "mle" and result["main_score"] == pytest.approx(23.46368, rel=1e-6)
    for key, value in expected.items():
        assert result["scores"][key] == pytest.approx(value, rel=1e-12), key
    side = np.load(path.with_name(path.stem + ".lid.npy"))
    assert side.shape == (len(X),)
    np.testing.assert_allclose(side, lid, rtol=1e-12)
    assert result["params"]["k"] == 20 and result["seed"] == 42


def test_spectrum_on_model_vectors(w2v_results, w2v):
    path = w2v_results["Spectrum-ModelVectors"]
    result = json.loads(path.read_text())
    X = w2v.all_vectors()
    assert result["main_score"] == pytest.approx(S.rankme(X), rel=1e-9)   # 13,013 rows: no sampling
    sv = np.load(path.with_name(path.stem + ".singular_values.npy"))
    assert sv.shape == (300,) and result["scores"]["rank"] == 300
    assert result["scores"]["rankme"] == pytest.approx(S.rankme_from_singular_values(sv), rel=1e-12)
    assert result["details"]["n_rows_used"] == len(X)


def test_text_set_counts_and_sidecar_alignment(w2v_results, w2v):
    path = w2v_results["IntrinsicDimension-Banking77"]
    result = json.loads(path.read_text())
    d = result["details"]
    assert d["n_texts"] == 10003 and "train.jsonl" in result["dataset"]["sha256"]
    lid = np.load(path.with_name(path.stem + ".lid.npy"))
    assert lid.shape == (d["n_rows"],)
    # rows with no vector (texts without a known word) are NaN; every other row has a value
    assert int(np.isnan(lid).sum()) == d["n_zero_rows_dropped"]
    assert result["scores"]["n_points"] + d["n_duplicate_vectors_dropped"] == d["n_rows_used"]
    assert 1 < result["scores"]["twonn"] < result["scores"]["lpca_fo"] <= 300


def test_plots_from_results(w2v_results, tmp_path):
    from tasks.plots.geometry import plot_lid_histogram, plot_singular_spectrum
    paths = list(w2v_results.values())
    results = [json.loads(p.read_text()) for p in paths]
    made = plot_lid_histogram(results, paths, tmp_path) + plot_singular_spectrum(results, paths, tmp_path)
    assert sorted(p.name for p in made) == ["lid-histogram-IntrinsicDimension-Banking77.png",
                                            "lid-histogram-IntrinsicDimension-ModelVectors.png",
                                            "singular-spectrum-Spectrum-ModelVectors.png"]
    assert all(p.stat().st_size > 10_000 for p in made)
    other = [{"task": "STSBenchmark", "task_type": "sts", "status": "ok", "model": "m", "scores": {}}]
    assert plot_lid_histogram(other, [tmp_path / "x.json"], tmp_path) == []


class _TextOnlyModel:
    meta = {"name": "text-only", "dim": 4}

    def encode(self, texts, role=None, batch_size=None):
        return np.ones((len(texts), 4), np.float32)


def test_model_vectors_need_a_vector_table():
    task = registry.make_task("IntrinsicDimension-ModelVectors")
    task.load(None)
    with pytest.raises(HarnessError, match="has none: use a text-set variant"):
        task.evaluate(_TextOnlyModel())


def test_bad_vectors_are_named(tmp_path):
    from adapters.models.precomputed import PrecomputedModel
    X = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    X[12, 3] = np.nan
    with pytest.raises(HarnessError, match=r"NaN or Inf\) in row 12 \(key '12'"):   # the adapter refuses it
        PrecomputedModel(X, [str(i) for i in range(50)], name="bad")

    class RawTable:   # an adapter that does not check its own table: the task still names the row
        meta = {"name": "bad"}

        def all_vectors(self):
            return X
    model = RawTable()
    for name in ("IntrinsicDimension-ModelVectors", "Spectrum-ModelVectors"):
        task = registry.make_task(name)
        task.load(None)
        with pytest.raises(HarnessError, match=r"NaN or Inf\) in row 12"):
            task.evaluate(model)
    task = registry.make_task("IntrinsicDimension-ModelVectors")
    task.load(None)
    with pytest.raises(HarnessError, match="need at least"):
        task.evaluate(PrecomputedModel(np.zeros((30, 8), np.float32), [str(i) for i in range(30)], name="zeros"))


def test_duplicate_vectors_counted(tmp_path):
    from adapters.models.precomputed import PrecomputedModel
    X = np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32)
    X = np.vstack([X, X[:5]])
    task = registry.make_task("IntrinsicDimension-ModelVectors")
    task.load(None)
    with pytest.warns(UserWarning, match="dropped 5 duplicate row"):
        out = task.evaluate(PrecomputedModel(X, [str(i) for i in range(len(X))], name="dups"))
    assert out.details["n_duplicate_vectors_dropped"] == 5 and out.scores["n_points"] == 200
    np.testing.assert_array_equal(out.sidecars["lid"][200:], out.sidecars["lid"][:5])
    dup = out.details["near_duplicates"]
    assert dup["n_dropped"] == 5 and dup["groups"] == [[i, 200 + i] for i in range(5)] and dup["rel_tol"] == 1e-4
    assert "rel_tol * max" in dup["rule"] and "examples" not in dup     # a vector table has no texts


def test_near_duplicate_texts_are_named(tmp_path):
    """A text set whose vectors hold a near-copy (last-bit noise): dropped, counted and named by its text."""
    folder = tmp_path / "banking77"
    folder.mkdir()
    texts = [f"text {i}" for i in range(60)]
    (folder / "train.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    base = np.random.default_rng(0).standard_normal((60, 8)).astype(np.float32)
    base[41] = base[7] * np.float32(1 + 3e-7)

    class Model:
        meta = {"name": "m", "dim": 8}

        def encode(self, batch, role=None, batch_size=None):
            return base[[int(t.split()[1]) for t in batch]]

    task = registry.make_task("IntrinsicDimension-Banking77")
    task.params.update({"k": 5, "lid_k": 5})
    task.load(tmp_path)
    with pytest.warns(UserWarning, match="dropped 1 duplicate row"):
        out = task.evaluate(Model())
    dup = out.details["near_duplicates"]
    assert dup["groups"] == [[7, 41]] and dup["examples"] == [["text 7", "text 41"]]
    assert out.scores["n_duplicates"] == 1 and out.scores["n_points"] == 59


def test_geometry_params_checked_at_load():
    task = registry.make_task("IntrinsicDimension-ModelVectors")
    task.set_params(knn_precision="float16")
    with pytest.raises(HarnessError, match="'knn_precision' = 'float16' is not valid; valid: float32, float64"):
        task.load(None)
    task = registry.make_task("Spectrum-ModelVectors")
    task.set_params(center="yes")
    with pytest.raises(HarnessError, match="Spectrum-ModelVectors: parameter 'center'"):
        task.load(None)


def test_text_file_errors_name_the_line(tmp_path):
    folder = tmp_path / "banking77"
    folder.mkdir()
    (folder / "train.jsonl").write_text('{"text": "a"}\n{"text": 3}\n', encoding="utf-8")
    task = registry.make_task("Spectrum-Banking77")
    with pytest.raises(DataError, match=r"train.jsonl:2: field 'text' is not a string"):
        task.load(tmp_path)
    (folder / "train.jsonl").write_text('{"text": "a"}\n{"text": "a"}\n{"text": "b"}\n', encoding="utf-8")
    task.load(tmp_path)
    assert task.texts == ["a", "b"] and task.info["n_repeated_texts_dropped"] == 1
    with pytest.raises(HarnessError, match="needs a data root"):
        registry.make_task("Spectrum-SciFact").load(None)


@pytest.mark.slow
def test_minilm_banking77(data_root, minilm):
    """MiniLM on the Banking77 train texts (shared embedding cache; ~10k short texts to encode once)."""
    results = {}
    for name in ("IntrinsicDimension-Banking77", "Spectrum-Banking77"):
        task = registry.make_task(name)
        task.load(data_root)
        results[name] = task.evaluate(minilm)
    id_scores = results["IntrinsicDimension-Banking77"].scores
    sp = results["Spectrum-Banking77"].scores
    assert 5 < id_scores["mle"] < id_scores["mle_mean"] < 60
    assert id_scores["lpca_fo"] < 384 and 300 < sp["rank"] <= 384   # 382 measured (numpy tolerance)
    assert 1 < sp["rankme"] < 384 and 0 < sp["average_cosine"] < 1
    assert results["IntrinsicDimension-Banking77"].sidecars["lid"].shape == (10003,)


def test_spectrum_plot_leaves_out_rounding_noise(tmp_path, monkeypatch):
    """A null direction (sigma ~ 1e-16 sigma_1) is not drawn, so the axis keeps the real spectrum."""
    import tasks.plots.geometry as geometry
    result = {"task": "Spectrum-X", "task_type": "spectrum", "status": "ok", "model": "m", "scores": {"rankme": 3.0}}
    path = tmp_path / "m" / "Spectrum-X.json"
    path.parent.mkdir()
    np.save(path.with_name("Spectrum-X.singular_values.npy"), np.array([4.0, 2.0, 1.0, 0.5, 4e-16]))
    drawn = {}

    def keep(fig, out, **kw):
        ax = fig.axes[0]
        drawn["y"] = ax.lines[0].get_ydata()
        drawn["label"] = ax.get_legend().get_texts()[0].get_text()
        return out
    monkeypatch.setattr(geometry, "save_figure", keep)
    geometry.plot_singular_spectrum([result], [path], tmp_path)
    assert list(drawn["y"]) == [1.0, 0.5, 0.25, 0.125]
    assert drawn["label"] == "m (RankMe 3.0 of 5, 1 below 1e-06 not drawn)"
