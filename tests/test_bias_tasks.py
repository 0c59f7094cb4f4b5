"""The bias tasks (WEAT, SEAT, DirectBias), the glove-cbn-items model, result files and plots.

References: methods.md §4.1 table (WEAT task on glove-cbn-items), debiaswe/SOURCE.md (DirectBias on
the w2v subset), sent-bias's own sentence files (the SEAT templates), and a loop-based
re-implementation of sent-bias's `weat.py` effect size for SEAT rows.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from harness import registry
from harness.errors import DataError, HarnessError

from .test_bias_metrics import EXACT_P, WEAT_TABLE, brute_force_p


@pytest.fixture(scope="module")
def glove(data_root):
    return registry.make_model("glove-cbn-items")


def run_task(name, model, data_root, **params):
    task = registry.make_task(name)
    task.params.update(params)
    task.load(data_root)
    return task, task.evaluate(model)


# ------------------------------------------------------------------------------------------- WEAT
def test_weat_task_on_cbn_glove_reproduces_table(glove, data_root):
    task, out = run_task("WEAT", glove, data_root)
    rows = {r["test"]: r for r in out.details["tests"]}
    assert list(rows) == list(WEAT_TABLE) and out.details["effect_size_ddof"] == 1
    for name, (stat, d1, _) in WEAT_TABLE.items():
        r = rows[name]
        assert r["status"] == "ok" and r["oov"] == {}
        assert abs(r["statistic"] - stat) < 1e-6 and abs(r["effect_size"] - d1) < 1e-6
        assert out.scores[f"{name}_effect_size"] == r["effect_size"]
    for name, p in EXACT_P.items():
        assert rows[name]["p_method"] == "exact" and rows[name]["p_value"] == pytest.approx(p, rel=5e-3)
    assert rows["WEAT1"]["p_value"] == 1e-5 and rows["WEAT1"]["p_method"] == "monte-carlo"
    assert out.scores["mean_abs_effect_size"] == pytest.approx(np.mean([v[1] for v in WEAT_TABLE.values()]), abs=1e-6)
    assert out.scores["n_tests_nan"] == 0
    _, out0 = run_task("WEAT", glove, data_root, ddof=0)
    for r in out0.details["tests"]:
        assert abs(r["effect_size"] - WEAT_TABLE[r["test"]][2]) < 1e-6   # WEFE 1.0.1's column


def test_weat_task_oov_and_truncate_on_w2v(w2v, data_root):
    _, out = run_task("WEAT", w2v, data_root)
    rows = {r["test"]: r for r in out.details["tests"]}
    assert rows["WEAT2"]["status"] == "nan" and rows["WEAT2"]["oov"] == {"Y": ["axe"]}
    assert "equal-size" in rows["WEAT2"]["reason"] and "truncate" in rows["WEAT2"]["reason"]
    assert rows["WEAT10"]["status"] == "nan" and rows["WEAT10"]["oov"] == {"X": ["Billy"]}
    assert rows["WEAT9"]["status"] == "ok" and rows["WEAT9"]["n_items"]["A"] == [7, 6]   # "short-term" dropped
    assert math.isnan(out.scores["WEAT2_effect_size"]) and out.scores["n_tests_nan"] == 2
    _, cut = run_task("WEAT", w2v, data_root, truncate="random")
    rows = {r["test"]: r for r in cut.details["tests"]}
    assert all(r["status"] == "ok" for r in rows.values())
    assert rows["WEAT2"]["truncated"] == {"how": "random", "from": [25, 24], "to": 24}
    _, wefe = run_task("WEAT", w2v, data_root, source="wefe")
    assert {r["test"]: r["X"] for r in wefe.details["tests"]}["WEAT4"] == "european_american_names_7"


def test_weat_task_set_losing_over_20_percent_is_nan(glove, data_root):
    from adapters.models.glove_cbn import ExactWordVectors
    drop = {"executive", "management", "professional"}        # 3 of 8 Career words: 37.5% lost
    keep = [w for w in glove.vocab if w not in drop]
    vectors = np.stack([glove.vectors[glove.row_of[w]] for w in keep])
    model = ExactWordVectors(vectors, keep, name="glove-minus-career")
    _, out = run_task("WEAT", model, data_root, tests=["WEAT6", "WEAT7"])
    r6, r7 = out.details["tests"]
    assert r6["status"] == "nan" and "3 of 8 words out of vocabulary (38% > 20%)" in r6["reason"]
    assert math.isnan(r6["effect_size"]) and r7["status"] == "ok"
    assert out.scores["mean_abs_effect_size"] == pytest.approx(abs(r7["effect_size"]))


def test_weat_task_bad_params_and_data(glove, data_root, tmp_path):
    task = registry.make_task("WEAT")
    task.params["tests"] = ["WEAT11"]
    with pytest.raises(HarnessError, match="unknown test.*WEAT11"):
        task.load(data_root)
    task = registry.make_task("WEAT")
    task.params["alternative"] = "bigger"
    with pytest.raises(HarnessError, match="alternative"):
        task.load(data_root)
    (tmp_path / "cbn_weat_glove").mkdir()
    lines = (data_root / "cbn_weat_glove" / "items.tsv").read_text().splitlines()
    (tmp_path / "cbn_weat_glove" / "items.tsv").write_text("\n".join(l for l in lines if "\tCareer\t" not in l))
    with pytest.raises(DataError, match=r"items.tsv.*WEAT6.*Career"):
        registry.make_task("WEAT").load(tmp_path)


@pytest.fixture(scope="module")
def minilm_seat(minilm, data_root):
    """SEAT on all-MiniLM-L6-v2 over every test file (encodes ~5,000 sentences once, then cached)."""
    return run_task("SEAT", minilm, data_root)


@pytest.mark.slow  # shares the SEAT encoding (~5,000 sentences) with the next test
def test_weat_task_sentence_model_matches_seat_word_files(minilm, minilm_seat, data_root):
    """A sentence model encodes each word; WEAT on cbn lists = SEAT on sent-bias's word-level files
    wherever the two hold the same word sets (the statistic does not depend on order)."""
    _, out = run_task("WEAT", minilm, data_root)
    seat_task, seat_out = minilm_seat
    seat_rows = {r["test"]: r for r in seat_out.details["tests"]}
    weat_task = registry.make_task("WEAT")
    weat_task.load(data_root)
    compared = 0
    for r in out.details["tests"]:
        assert r["status"] == "ok"
        seat_name = r["test"].lower()
        same = all(set(weat_task.tests[r["test"]][k][1]) == set(seat_task.tests[seat_name][k][1]) for k in "XYAB")
        if same:
            compared += 1
            assert r["effect_size"] == pytest.approx(seat_rows[seat_name]["effect_size"], abs=1e-9)
            if r["p_method"] == "exact":
                assert r["p_value"] == pytest.approx(seat_rows[seat_name]["p_value"], abs=1e-12)
    assert compared >= 5


# ------------------------------------------------------------------------------------------- SEAT
def sentbias_effect_size(X, Y, A, B):
    """sent-bias `weat.py` effect size, loops and all (cosine per pair, ddof=1)."""
    cos = lambda u, v: float(np.dot(u, v) / math.sqrt(np.dot(u, u) * np.dot(v, v)))  # noqa: E731
    s = lambda w: np.mean([cos(w, a) for a in A]) - np.mean([cos(w, b) for b in B])  # noqa: E731
    sx, sy = [s(x) for x in X], [s(y) for y in Y]
    return (np.mean(sx) - np.mean(sy)) / np.std(sx + sy, ddof=1)


@pytest.mark.slow
def test_seat_on_minilm_every_test_file(minilm, minilm_seat):
    task, out = minilm_seat
    rows = {r["test"]: r for r in out.details["tests"]}
    assert len(rows) == 46 and all(r["status"] == "ok" for r in rows.values())
    assert out.scores["n_tests"] == 46 and out.scores["n_tests_nan"] == 0
    assert rows["sent-weat1"]["level"] == "sentence" and rows["weat1"]["level"] == "word"
    assert rows["sent-weat1"]["p_method"] == "monte-carlo" and rows["sent-weat1"]["n_evaluated"] == 100_000
    assert rows["weat6"]["p_method"] == "exact"
    for name in ("sent-weat6", "sent-weat9", "heilman_double_bind_competent_1", "weat8"):
        sets = [minilm.encode(task.tests[name][k][1]).astype(np.float64) for k in "XYAB"]
        assert rows[name]["effect_size"] == pytest.approx(sentbias_effect_size(*sets), abs=1e-6)
    for name in ("weat6", "weat9", "heilman_double_bind_likable_1"):      # exact tests
        from tasks.metrics.bias import association
        X, Y, A, B = (minilm.encode(task.tests[name][k][1]) for k in "XYAB")
        assert rows[name]["p_value"] == pytest.approx(brute_force_p(association(X, A, B), association(Y, A, B)),
                                                      abs=1e-9)


def test_seat_templates_reproduce_sentbias_sentence_files(data_root):
    from tasks.seat import bleach_test, bleach_word, load_templates, read_test_file
    folder = data_root / "seat" / "tests"
    assert load_templates()["version"] == 1
    checked = 0
    for sent in sorted(folder.glob("sent-*.jsonl")):
        source = folder / sent.name[len("sent-"):]
        if not source.exists():
            continue
        ref, words = read_test_file(sent), read_test_file(source)
        ours = bleach_test(words)
        for key in ("targ1", "targ2", "attr1", "attr2"):
            full = [s for w in words[key]["examples"] for s in bleach_word(w)]
            if len(full) == len(ref[key]["examples"]):
                assert ours[key]["examples"] == ref[key]["examples"], (sent.name, key)
            else:  # sent-bias truncated this target set at random: theirs is a subsequence of ours
                it = iter(full)
                assert all(s in it for s in ref[key]["examples"]), (sent.name, key)
                assert len(ours[key]["examples"]) == len(ref[key]["examples"])
        checked += 1
    assert checked == 19
    assert bleach_word("aster")[:2] == ["This is an aster.", "That is an aster."]
    assert bleach_word("woman")[-1] == "Women are people."
    assert bleach_word("European American")[0] == "This is a European American."


def test_seat_regenerate_sentences_and_bad_files(data_root, tmp_path):
    task = registry.make_task("SEAT")
    task.params.update(regenerate_sentences=True, tests=["sent-weat1", "sent-weat7"])
    rec = task.load(data_root)
    assert "templates:seat_templates.json" in rec.sha256
    ref = json.loads((data_root / "seat" / "tests" / "sent-weat1.jsonl").read_text())
    assert task.tests["sent-weat1"]["A"][1] == ref["attr1"]["examples"]
    assert len(task.tests["sent-weat7"]["X"][1]) == len(task.tests["sent-weat7"]["Y"][1]) == 72
    bad = tmp_path / "seat" / "tests"
    bad.mkdir(parents=True)
    obj = json.loads((data_root / "seat" / "tests" / "weat6.jsonl").read_text())
    del obj["attr2"]
    (bad / "weat6.jsonl").write_text(json.dumps(obj))
    with pytest.raises(DataError, match=r"weat6.jsonl.*attr2"):
        registry.make_task("SEAT").load(tmp_path)


# ----------------------------------------------------------------------------------------- DirectBias
def test_direct_bias_task_w2v(w2v, data_root):
    _, out = run_task("DirectBias", w2v, data_root)
    s = out.scores
    assert abs(s["direct_bias_1"] - 0.0805) < 1e-4            # paper ~0.08 (full w2vNEWS)
    assert abs(s["direct_bias_1_neutral"] - 0.0731) < 1e-4
    assert abs(s["explained_variance_ratio_1"] - 0.6053) < 1e-4
    assert s["coverage"] == 1.0 and out.details["pairs_dropped"] == [] and out.details["n_neutral"] == 303
    assert out.sidecars["projections"].shape == (320,) and np.isfinite(out.sidecars["ripa"]).all()
    assert s["ripa_mean"] == pytest.approx(np.mean(out.sidecars["ripa"]))


def test_direct_bias_task_glove_drops_missing_pairs(glove, data_root):
    with pytest.warns(UserWarning, match="gal/guy"):
        _, out = run_task("DirectBias", glove, data_root)
    assert set(out.details["pairs_dropped"]) == {"gal/guy", "herself/himself", "Mary/John"}
    assert abs(out.scores["explained_variance_ratio_1"] - 0.6961) < 1e-4
    assert out.details["n_covered"] == int(np.isfinite(out.sidecars["projections"]).sum()) < 320


# -------------------------------------------------------------------------------- result files, plots
@pytest.mark.filterwarnings("ignore::tasks.metrics.bias.BiasWarning")  # glove lacks 3 pairs
def test_result_files_are_strict_json_and_plots_render(data_root, tmp_path):
    from harness.runner import JobSpec, RunSettings, run_job
    from tasks.plots.bias import plot_direct_bias, plot_effect_sizes
    settings = RunSettings(results_dir=str(tmp_path / "results"), data_root=str(data_root),
                           cache_dir=str(tmp_path / "cache"), progress=False)
    paths = []
    for model in ("glove-cbn-items", "w2v-googlenews-subset"):
        for task in ("WEAT", "DirectBias"):
            outcome = run_job(JobSpec(model, task), settings)
            assert outcome.status == "ok", outcome.error
            paths.append(Path(outcome.path))

    def no_nan(token):
        raise AssertionError(f"non-JSON number {token}")
    results = [json.loads(p.read_text(), parse_constant=no_nan) for p in paths]
    weat_w2v = next(r for r in results if r["task"] == "WEAT" and r["model"] == "w2v-googlenews-subset")
    assert weat_w2v["scores"]["WEAT2_effect_size"] is None and weat_w2v["seed"] == 1111
    assert (paths[1].with_name("DirectBias.projections.npy")).is_file()
    pngs = plot_effect_sizes(results, paths, tmp_path / "plots") + plot_direct_bias(results, paths, tmp_path / "plots")
    assert [p.name for p in pngs] == ["bias_effect_sizes_WEAT.png", "bias_direct_bias_DirectBias.png"]
    assert all(p.stat().st_size > 10_000 and p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    assert plot_effect_sizes([{"task": "STSBenchmark", "task_type": "sts", "status": "ok"}], [paths[0]],
                             tmp_path / "plots") == []
