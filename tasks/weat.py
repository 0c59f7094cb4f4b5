"""WEAT (Caliskan, Bryson & Narayanan 2017) on word vectors or on a sentence model encoding the words.

Test sets (param `source`):
- "cbn" (default): Caliskan's exact item lists for WEAT 1-10 from `cbn_weat_glove/items.tsv`
  (these reproduce the published numbers, methods.md §4.1);
- "wefe": the same tests built from WEFE's `weat_wefe/WEAT.json` word sets (WEAT 4/5 have 18 names
  per set there, WEAT 9 has "short", WEAT 10 has "Bill").

Word-vector adapters are asked with `lookup(words)`; a sentence model encodes each word as a text.
Out-of-vocabulary words are dropped and counted per set; a set losing more than `max_lost` (20%)
gives a NaN row with the reason, and so do target sets of unequal size unless `truncate` is
"random" or "first". One row per test in `details["tests"]`; scores hold every test's effect size
and p-value plus `mean_abs_effect_size` (main score: lower is less measured bias).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from harness.data import DatasetRecord, read_tsv_rows, require_dir
from harness.errors import DataError, HarnessError

from .base import DESCRIPTIVE, ScoreRule, Task, TaskOutput
from .metrics import bias as bias_metrics
from .metrics.bias import DEFAULT_N_SAMPLES, DEFAULT_SEED, MAX_LOST_FRACTION, BiasWarning, drop_oov

SET_ROLES = ("X", "Y", "A", "B")

# (X, Y, A, B) per test: condition names in cbn's items.tsv (study = test name).
CBN_TESTS = {
    "WEAT1": ("Flowers", "Insects", "Pleasant", "Unpleasant"),
    "WEAT2": ("Instruments", "Weapons", "Pleasant", "Unpleasant"),
    "WEAT3": ("EuropeanAmericanNames", "AfricanAmericanNames", "Pleasant", "Unpleasant"),
    "WEAT4": ("EuropeanAmericanNames", "AfricanAmericanNames", "Pleasant", "Unpleasant"),
    "WEAT5": ("EuropeanAmericanNames", "AfricanAmericanNames", "Pleasant", "Unpleasant"),
    "WEAT6": ("MaleNames", "FemaleNames", "Career", "Family"),
    "WEAT7": ("Math", "Arts", "MaleTerms", "FemaleTerms"),
    "WEAT8": ("Science", "Arts", "MaleTerms", "FemaleTerms"),
    "WEAT9": ("MentalDisease", "PhysicalDisease", "Temporary", "Permanent"),
    "WEAT10": ("YoungNames", "OldNames", "Pleasant", "Unpleasant"),
}
# The same tests from WEFE's WEAT.json set names.
WEFE_TESTS = {
    "WEAT1": ("flowers", "insects", "pleasant_5", "unpleasant_5a"),
    "WEAT2": ("instruments", "weapons", "pleasant_5", "unpleasant_5a"),
    "WEAT3": ("european_american_names_5", "african_american_names_5", "pleasant_5", "unpleasant_5b"),
    "WEAT4": ("european_american_names_7", "african_american_names_7", "pleasant_5", "unpleasant_5b"),
    "WEAT5": ("european_american_names_7", "african_american_names_7", "pleasant_9", "unpleasant_9"),
    "WEAT6": ("male_names", "female_names", "career", "family"),
    "WEAT7": ("math", "arts", "male_terms", "female_terms"),
    "WEAT8": ("science", "arts_2", "male_terms_2", "female_terms_2"),
    "WEAT9": ("mental_disease", "physical_disease", "temporary", "permanent"),
    "WEAT10": ("young_people_names", "old_people_names", "pleasant_9", "unpleasant_9"),
}


# ------------------------------------------------------------------ shared by WEAT, SEAT and DirectBias
def embed_items(model, items: list[str], batch_size: int | None = None,
                use_lookup: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, found) for words or sentences: `lookup` for word-vector adapters (when
    `use_lookup`), else `encode`. A zero vector (e.g. a text with no known token) counts as not
    found: it has no cosine.
    """
    items = list(items)
    if use_lookup and hasattr(model, "lookup"):
        vecs, found = model.lookup(items)
        found = np.asarray(found, dtype=bool)
    else:
        vecs = model.encode(items, role=None, batch_size=batch_size)
        found = np.ones(len(items), dtype=bool)
    vecs = np.asarray(vecs)
    return vecs, found & np.any(vecs != 0, axis=1)


def embed_tests(model, tests: dict[str, dict], batch_size: int | None = None,
                use_lookup: bool = True) -> dict[str, tuple[np.ndarray, bool]]:
    """One lookup/encode call for every distinct item of every test (the embedding cache dedups too)."""
    items = sorted({w for t in tests.values() for _, words in t.values() for w in words})
    vecs, found = embed_items(model, items, batch_size, use_lookup)
    return {w: (vecs[i], bool(found[i])) for i, w in enumerate(items)}


def run_test(name: str, sets: dict[str, tuple[str, list[str]]], vec_of: dict, params: dict, seed: int) -> dict:
    """One WEAT/SEAT row. `sets` maps X/Y/A/B to (label, items). NaN row with `reason` when unusable."""
    row = {"test": name, **{r: sets[r][0] for r in SET_ROLES}, "statistic": float("nan"),
           "effect_size": float("nan"), "p_value": float("nan"), "ddof": params["ddof"],
           "alternative": params["alternative"], "status": "ok", "reason": None}
    vectors, counts, lost_words = {}, {}, {}
    reasons = []
    for role in SET_ROLES:
        label, words = sets[role]
        found = [vec_of[w][1] for w in words]
        oov = drop_oov(words, found, max_lost=params["max_lost"], what=f"{name} {role} ({label})")
        counts[role] = [len(words), len(words) - oov["n_lost"]]
        if oov["lost"]:
            lost_words[role] = oov["lost"][:20]
        if oov["reason"]:
            reasons.append(oov["reason"])
        kept = [w for w, f in zip(words, oov["keep"]) if f]
        vectors[role] = np.stack([vec_of[w][0] for w in kept]) if kept else np.zeros((0, 1))
    row["n_items"] = counts  # role -> [in the test, used]
    row["oov"] = lost_words
    if reasons:
        return {**row, "status": "nan", "reason": "; ".join(reasons)}
    try:
        res = bias_metrics.weat(vectors["X"], vectors["Y"], vectors["A"], vectors["B"], ddof=params["ddof"],
                                n_samples=params["n_samples"], alternative=params["alternative"], seed=seed,
                                truncate=params["truncate"], parametric=bool(params.get("parametric", False)))
    except HarnessError as e:  # unequal sizes after OOV, too few words: this test only
        return {**row, "status": "nan", "reason": f"{name}: {e}"}
    out = res.as_dict()
    row.update({k: out[k] for k in ("statistic", "effect_size", "p_value", "p_method", "n_partitions",
                                    "n_evaluated", "n_ties", "seed", "truncated")})
    if params.get("parametric"):
        row["p_value_parametric"] = out["p_value_parametric"]
    if not np.isfinite(row["effect_size"]):
        row.update(status="nan", reason=f"{name}: every association s(w, A, B) is equal (std 0)")
    return row


def summary_scores(rows: list[dict]) -> dict:
    """Flat scores: per test effect size / p-value / statistic, plus aggregates over usable tests."""
    scores: dict[str, float] = {}
    d = np.array([r["effect_size"] for r in rows], dtype=np.float64)
    p = np.array([r["p_value"] if r["p_value"] is not None else np.nan for r in rows], dtype=np.float64)
    ok = np.isfinite(d)
    scores["mean_abs_effect_size"] = float(np.abs(d[ok]).mean()) if ok.any() else float("nan")
    scores["mean_effect_size"] = float(d[ok].mean()) if ok.any() else float("nan")
    scores["fraction_p_below_0.01"] = float((p[ok] < 0.01).mean()) if ok.any() else float("nan")
    scores["n_tests"] = float(len(rows))
    scores["n_tests_nan"] = float((~ok).sum())
    for r in rows:
        for key in ("effect_size", "p_value", "statistic"):
            scores[f"{r['test']}_{key}"] = r[key]
    return scores


def check_common_params(params: dict) -> None:
    from .metrics.bias import ALTERNATIVES, TRUNCATE
    if params["alternative"] not in ALTERNATIVES:
        raise HarnessError(f"param alternative must be one of {ALTERNATIVES}, got {params['alternative']!r}")
    if params["truncate"] not in TRUNCATE:
        raise HarnessError(f"param truncate must be one of {TRUNCATE}, got {params['truncate']!r}")
    if int(params["n_samples"]) < 2:
        raise HarnessError(f"param n_samples must be at least 2, got {params['n_samples']!r}")
    if not 0 <= float(params["max_lost"]) < 1:
        raise HarnessError(f"param max_lost must be in [0, 1), got {params['max_lost']!r}")
    if params["ddof"] not in (0, 1) or isinstance(params["ddof"], bool):
        raise HarnessError(f"param ddof must be one of (0, 1), got {params['ddof']!r}")
    if not isinstance(params["parametric"], bool):
        raise HarnessError(f"param parametric must be true or false, got {params['parametric']!r}")


def select_tests(available: dict, wanted, what: str) -> dict:
    if not wanted:
        return available
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    unknown = [t for t in wanted if t not in available]
    if unknown:
        raise HarnessError(f"{what}: unknown test(s) {unknown}; valid: {', '.join(available)}")
    return {t: available[t] for t in wanted}


# ----------------------------------------------------------------------------------------------- task
class BiasTask(Task):
    """What WEAT, SEAT and DirectBias declare alike: descriptive figures (a bias measure has no "better"
    for the leaderboard to rank), gated against a baseline with these tolerances."""
    type = "bias"
    title = "Bias"
    score_rules = (ScoreRule("*p_value*", DESCRIPTIVE, 0.02),      # Monte-Carlo p-values move with the sample
                   ScoreRule("*", DESCRIPTIVE, 0.01))              # effect sizes, direct bias (descriptive)
    split = "all"


class WEATTask(BiasTask):
    name = "WEAT"
    main_score = "mean_abs_effect_size"
    plots = ("tasks.plots.bias:plot_effect_sizes",)
    version = 1
    seed = DEFAULT_SEED  # sent-bias's default seed

    def default_params(self):
        return {"source": "cbn", "tests": None, "ddof": 1, "n_samples": DEFAULT_N_SAMPLES,
                "alternative": "greater", "truncate": None, "max_lost": MAX_LOST_FRACTION, "parametric": False,
                "batch_size": None}

    def load(self, data_root: Path | None) -> DatasetRecord:
        check_common_params(self.params)
        source = self.params["source"]
        if source not in ("cbn", "wefe"):
            raise HarnessError(f"WEAT param source must be 'cbn' or 'wefe', got {source!r}")
        if data_root is None:
            raise HarnessError("task WEAT needs a data root with cbn_weat_glove/ or weat_wefe/ "
                               "(--data-root or HARNESS_DATA)")
        if source == "cbn":
            rec, tests = load_cbn_tests(Path(data_root) / "cbn_weat_glove")
        else:
            rec, tests = load_wefe_tests(Path(data_root) / "weat_wefe")
        self.tests = select_tests(tests, self.params["tests"], "WEAT")
        self.dataset = rec
        return rec

    def evaluate(self, model, index=None) -> TaskOutput:
        vec_of = embed_tests(model, self.tests, self.params["batch_size"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BiasWarning)  # OOV words are reported in each row instead
            rows = [run_test(name, sets, vec_of, self.params, self.seed) for name, sets in self.tests.items()]
        details = {"tests": rows, "source": self.params["source"],
                   "effect_size_ddof": self.params["ddof"],
                   "p_value": {"alternative": self.params["alternative"], "n_samples": self.params["n_samples"],
                               "exact_when": "C(2n, n) <= n_samples", "seed": self.seed}}
        return TaskOutput(scores=summary_scores(rows), details=details)


def load_cbn_tests(folder: Path) -> tuple[DatasetRecord, dict]:
    folder = require_dir(folder, "WEAT (cbn) data")
    rec = DatasetRecord(path=str(folder))
    path = rec.add(folder / "items.tsv", folder)
    conditions: dict[tuple[str, str], list[str]] = {}
    for lineno, cols in read_tsv_rows(path, min_cols=4):
        if lineno == 1 and cols[:3] == ["study", "condition", "word"]:
            continue
        study, condition, word = (c.strip() for c in cols[:3])
        if not word:
            raise DataError("empty word", path, lineno)
        conditions.setdefault((study, condition), []).append(word)
    tests = {}
    for test, names in CBN_TESTS.items():
        missing = [c for c in names if (test, c) not in conditions]
        if missing:
            raise DataError(f"test {test}: no rows for condition(s) {missing}", path)
        tests[test] = {role: (c, conditions[(test, c)]) for role, c in zip(SET_ROLES, names)}
    return rec, tests


def load_wefe_tests(folder: Path) -> tuple[DatasetRecord, dict]:
    folder = require_dir(folder, "WEAT (WEFE word sets) data")
    rec = DatasetRecord(path=str(folder))
    path = rec.add(folder / "WEAT.json", folder)
    try:
        word_sets = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"bad JSON ({e.msg})", path, e.lineno) from None
    tests = {}
    for test, names in WEFE_TESTS.items():
        for n in names:
            if not isinstance(word_sets.get(n), list) or not all(isinstance(w, str) for w in word_sets[n]):
                raise DataError(f"test {test}: word set {n!r} missing or not a list of strings", path)
        tests[test] = {role: (n, list(word_sets[n])) for role, n in zip(SET_ROLES, names)}
    return rec, tests


def weat() -> WEATTask:
    return WEATTask()
