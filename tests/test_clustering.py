"""Clustering: V-measure/NMI/ARI/AMI, MTEB's legacy and fast (bootstrapped) protocols, bad input.

References: V-measure written out from the contingency table and scikit-learn's `v_measure_score`
(agree to 1e-12); mteb 2.26.24's `AbsTaskClusteringLegacy` and `AbsTaskClustering` run locally on the
same vectors (equal within 1e-9).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.errors import DataError, HarnessError
from tasks.clustering import ClusteringTask
from tasks.metrics.clustering import bootstrap_clustering, clustering_scores, embed_subset, legacy_assignments

from .toy_models import TableModel




def synthetic_rows(n=150, n_labels=4, dim=8, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    centres = 3 * rng.normal(size=(n_labels, dim))
    ys = np.concatenate([np.arange(n_labels), rng.integers(0, n_labels, n - n_labels)])
    rows = [{"text": f"doc {i}", "label": f"topic_{y}", "label_fine": f"topic_{y}:{i % 2}"} for i, y in enumerate(ys)]
    table = {r["text"]: centres[y] + noise * rng.normal(size=dim) for r, y in zip(rows, ys)}
    return rows, TableModel(table)


def write_split(folder, rows, split="test"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder.parent


def v_measure_from_counts(labels, clusters):
    """Rosenberg & Hirschberg (2007), beta = 1, from the contingency table."""
    _, li = np.unique(labels, return_inverse=True)
    _, ci = np.unique(clusters, return_inverse=True)
    table = np.zeros((li.max() + 1, ci.max() + 1))
    np.add.at(table, (li, ci), 1)
    n = table.sum()

    def entropy(counts):
        p = counts[counts > 0] / n
        return -(p * np.log(p)).sum()

    def conditional(t):  # H(rows | columns)
        nz = t > 0
        return -(t[nz] / n * np.log(t[nz] / np.broadcast_to(t.sum(0), t.shape)[nz])).sum()

    h_c, h_k = entropy(table.sum(1)), entropy(table.sum(0))
    hom = 1.0 if h_c == 0 else 1 - conditional(table) / h_c
    com = 1.0 if h_k == 0 else 1 - conditional(table.T) / h_k
    return 0.0 if hom + com == 0 else 2 * hom * com / (hom + com)


# --- metrics ----------------------------------------------------------------------------------
def test_v_measure_equals_sklearn_and_the_definition():
    from sklearn.metrics import v_measure_score
    rng = np.random.default_rng(0)
    for n_labels, n_clusters in ((2, 2), (5, 3), (7, 12)):
        labels = [f"l{x}" for x in rng.integers(0, n_labels, 400)]
        clusters = rng.integers(0, n_clusters, 400)
        clusters[:200] = np.unique(labels, return_inverse=True)[1][:200]  # partly informative
        ours = clustering_scores(labels, clusters)["v_measure"]
        assert ours == pytest.approx(v_measure_score(labels, clusters), abs=1e-12)
        assert ours == pytest.approx(v_measure_from_counts(labels, clusters), abs=1e-12)
    assert clustering_scores(["a", "a", "b", "b"], [5, 5, 1, 1]) == pytest.approx(
        {"v_measure": 1.0, "nmi": 1.0, "ari": 1.0, "ami": 1.0}, abs=1e-12)


def test_other_scores_are_sklearns():
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score
    rng = np.random.default_rng(1)
    labels, clusters = rng.integers(0, 4, 300), rng.integers(0, 5, 300)
    s = clustering_scores(labels, clusters)
    assert s["nmi"] == pytest.approx(normalized_mutual_info_score(labels, clusters), abs=1e-15)
    assert s["ari"] == pytest.approx(adjusted_rand_score(labels, clusters), abs=1e-15)
    assert s["ami"] == pytest.approx(adjusted_mutual_info_score(labels, clusters), abs=1e-15)


def test_embed_subset_follows_mteb_rng_sequence():
    import random
    rng = random.Random(42)
    expected_rows = rng.sample(range(100), k=25)
    expected_next = rng.choices(range(25), k=5)
    rows, carried = embed_subset(100, seed=42, max_fraction=0.25)
    assert rows == expected_rows and carried.choices(range(25), k=5) == expected_next
    assert embed_subset(100, seed=42)[0] is None
    with pytest.raises(ValueError, match="at most one"):
        embed_subset(100, seed=42, max_fraction=0.5, max_documents=10)


# --- tasks vs mteb on the same vectors (fast, synthetic) ----------------------------------------
def test_legacy_task_equals_mteb_and_its_assignments_rescore(tmp_path):
    from sklearn.metrics import v_measure_score
    from tests.mteb_local import VectorModel, clustering_legacy_task, run
    rows, model = synthetic_rows()
    task = ClusteringTask("Toy", "toy")
    task.load(write_split(tmp_path / "toy", rows))
    out = task.evaluate(model)
    ref = run(clustering_legacy_task([r["text"] for r in rows], [r["label"] for r in rows]), VectorModel(model))
    assert out.scores["v_measure"] == pytest.approx(ref["v_measure"], abs=1e-9)
    assignment = out.sidecars["assignments"]
    assert out.scores["v_measure"] == pytest.approx(v_measure_score([r["label"] for r in rows], assignment), abs=1e-12)
    assert 0.3 < out.scores["v_measure"] < 1.0


@pytest.mark.parametrize("fraction", [None, 0.5])
def test_fast_task_equals_mteb(tmp_path, fraction):
    from tests.mteb_local import VectorModel, clustering_fast_task, run
    rows, model = synthetic_rows()
    task = ClusteringTask("Toy", "toy", protocol="fast", sample_size=120, max_fraction_to_embed=fraction)
    task.load(write_split(tmp_path / "toy", rows))
    out = task.evaluate(model)
    ref = run(clustering_fast_task([r["text"] for r in rows], [r["label"] for r in rows], sample_size=120,
                                   max_fraction=fraction), VectorModel(model))
    for key in ("v_measure", "v_measure_std", "ami", "ami_std"):
        assert out.scores[key] == pytest.approx(ref[key], abs=1e-9), key
    assert out.details["scores_per_draw"]["v_measure"] == pytest.approx(ref["v_measures"]["Level 0"], abs=1e-9)
    assert len(out.details["scores_per_draw"]["ari"]) == 10


def test_fine_labels_field_and_fast_protocol_via_params(tmp_path):
    rows, model = synthetic_rows()
    task = ClusteringTask("Toy", "toy", label_field="label_fine")
    task.params["protocol"] = "fast"
    task.params["sample_size"] = 64
    task.load(write_split(tmp_path / "toy", rows))
    out = task.evaluate(model)
    assert out.details["protocol"] == "fast" and out.details["n_clusters"] == 8


def test_bootstrap_is_deterministic_for_a_seed():
    rng = np.random.default_rng(2)
    x, labels = rng.normal(size=(80, 6)), rng.integers(0, 3, 80)
    a, _ = bootstrap_clustering(x, labels, n_bootstrap=3, sample_size=50, seed=7)
    b, _ = bootstrap_clustering(x, labels, n_bootstrap=3, sample_size=50, seed=7)
    assert a == b
    assert np.array_equal(legacy_assignments(x, 3, seed=7), legacy_assignments(x, 3, seed=7))


# --- bad input --------------------------------------------------------------------------------
def test_single_class_split_is_an_error(tmp_path):
    rows, _ = synthetic_rows()
    for r in rows:
        r["label"] = "only"
    with pytest.raises(DataError, match=r"test\.jsonl: the test split has a single label \('only'\)"):
        ClusteringTask("Toy", "toy").load(write_split(tmp_path / "toy", rows))


@pytest.mark.parametrize("field", ["text", "label"])
def test_missing_field_names_file_and_line(tmp_path, field):
    rows, _ = synthetic_rows()
    del rows[9][field]
    with pytest.raises(DataError, match=rf"test\.jsonl:10: missing field '{field}'"):
        ClusteringTask("Toy", "toy").load(write_split(tmp_path / "toy", rows))


def test_unknown_protocol_and_too_small_bootstrap(tmp_path):
    rows, model = synthetic_rows()
    with pytest.raises(HarnessError, match="'protocol' = 'spectral' is not valid; valid: legacy, fast"):
        ClusteringTask("Toy", "toy", protocol="spectral").load(write_split(tmp_path / "p" / "toy", rows))
    with pytest.raises(HarnessError, match="at most one of max_fraction_to_embed"):
        ClusteringTask("Toy", "toy", max_fraction_to_embed=0.5, max_documents_to_embed=3).load(
            write_split(tmp_path / "m" / "toy", rows))
    task = ClusteringTask("Toy", "toy", protocol="fast", sample_size=3)
    task.load(write_split(tmp_path / "toy", rows))
    with pytest.raises(HarnessError, match=r"sample_size=3 is below the number of labels \(4\)"):
        task.evaluate(model)


# --- real data: mteb parity on Banking77 test (MiniLM through the shared cache) -----------------
@pytest.mark.slow
def test_banking77_both_protocols_equal_mteb(data_root, minilm):
    from tests.mteb_local import VectorModel, clustering_fast_task, clustering_legacy_task, run
    import tasks.clustering as tcl
    legacy = tcl.banking77()
    legacy.load(data_root)
    texts, labels = legacy.data.texts, legacy.data.labels
    ours = legacy.evaluate(minilm).scores
    ref = run(clustering_legacy_task(texts, labels), VectorModel(minilm))
    assert ours["v_measure"] == pytest.approx(ref["v_measure"], abs=1e-9)

    fast = tcl.banking77_v2()
    fast.params["sample_size"] = 4096  # mteb's 16384 works too; smaller keeps the test short
    fast.load(data_root)
    ours = fast.evaluate(minilm).scores
    ref = run(clustering_fast_task(texts, labels, sample_size=4096), VectorModel(minilm))
    for key in ("v_measure", "v_measure_std", "ami", "ami_std"):
        assert ours[key] == pytest.approx(ref[key], abs=1e-9), key


# --- per-item results (issue 16) ------------------------------------------------------------------
def test_items_sidecars_reproduce_scores(tmp_path):
    """Fast protocol: one row per bootstrap draw (every metric's mean); legacy: one row per document, its label
    and cluster codes, whose V-measure is the reported one."""
    from .item_checks import assert_items_reproduce
    rows, model = synthetic_rows()
    root = write_split(tmp_path / "toy", rows)
    fast = ClusteringTask("Toy", "toy", protocol="fast", sample_size=120)
    fast.load(root)
    out = fast.evaluate(model)
    declared = assert_items_reproduce(fast, out, n_items=10, exact=("v_measure", "nmi", "ari", "ami"))
    assert declared["columns"] == ["v_measure", "nmi", "ari", "ami"]
    assert out.sidecars["items"][:, 0].tolist() == out.details["scores_per_draw"]["v_measure"]
    legacy = ClusteringTask("Toy", "toy")
    legacy.load(root)
    out = legacy.evaluate(model)
    declared = assert_items_reproduce(legacy, out, n_items=len(rows))
    assert declared["scores"] == {"v_measure": {"statistic": "v_measure", "columns": ["label", "cluster"]}}
    assert out.sidecars["items"][:, 1].tolist() == out.sidecars["assignments"].tolist()
