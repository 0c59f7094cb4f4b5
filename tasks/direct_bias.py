"""Direct bias (Bolukbasi et al. 2016) and RIPA (Ethayarajh et al. 2019) over the debiaswe professions.

g = first principal component of the centred definitional-pair vectors (debiaswe's 10 pairs, unit
vectors; pairs with an out-of-vocabulary word are dropped and listed); explained-variance ratios
reported. DirectBias_c = mean |cos(w, g)|^c over the profession words (main score: c = 1 over all
320 professions, the paper's setting, ~0.08 for w2vNEWS), also over the professions that are not
in `gender_specific_full.json` ("neutral"). RIPA: beta(w) = <w, b> with b = (he - she)/||he - she||
and w not normalised (positive: closer to "he"); multi-pair RIPA over the definitional pairs
(male - female) reports WEFE's per-word mean and std across pairs. Sentence models encode the words.
Sidecars: `projections` (cos(w, g)) and `ripa` (beta) per profession, NaN where out of vocabulary.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from harness.data import DatasetRecord, require_dir
from harness.errors import DataError, HarnessError

from . import params as check
from .base import TaskOutput
from .metrics.bias import BiasWarning, direct_bias, gender_direction, projections, ripa
from .weat import BiasTask, embed_items

FOLDER = "debiaswe"


class DirectBiasTask(BiasTask):
    name = "DirectBias"
    main_score = "direct_bias_1"
    plots = ("tasks.plots.bias:plot_direct_bias",)
    version = 1

    def default_params(self):
        return {"c": [1.0, 0.5, 2.0], "n_components": 10, "ripa_pair": ["he", "she"], "batch_size": None}

    def load(self, data_root: Path | None) -> DatasetRecord:
        if data_root is None:
            raise HarnessError(f"task DirectBias needs a data root with {FOLDER}/ (--data-root or HARNESS_DATA)")
        pair = self.params["ripa_pair"]
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(w, str) for w in pair)):
            raise HarnessError(f"param ripa_pair must be two words, got {pair!r}")
        check.integer(self, "n_components")
        check.integer(self, "batch_size", optional=True)
        c = self.params["c"]
        if (not isinstance(c, (list, tuple)) or not c
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in c)):
            raise HarnessError(f"task DirectBias: parameter 'c' = {c!r} is not valid; valid: a non-empty list of "
                               "numbers > 0 (the strictness exponents of DirectBias_c)")
        folder = require_dir(Path(data_root) / FOLDER, "DirectBias data")
        rec = DatasetRecord(path=str(folder))
        pairs = _read_json(rec.add(folder / "definitional_pairs.json", folder))
        if not (isinstance(pairs, list) and all(isinstance(p, list) and len(p) == 2 for p in pairs)):
            raise DataError("expected a list of [word, word] pairs", folder / "definitional_pairs.json")
        profs = _read_json(rec.add(folder / "professions.json", folder))
        if not (isinstance(profs, list) and all(isinstance(p, list) and p and isinstance(p[0], str) for p in profs)):
            raise DataError("expected a list of [word, definitional, stereotypical] rows", folder / "professions.json")
        specific = _read_json(rec.add(folder / "gender_specific_full.json", folder))
        self.pairs = [(str(a), str(b)) for a, b in pairs]
        self.professions = [p[0] for p in profs]
        self.gender_specific = set(specific)
        self.dataset = rec
        return rec

    def evaluate(self, model, index=None) -> TaskOutput:
        p = self.params
        first, second = [a for a, _ in self.pairs], [b for _, b in self.pairs]
        words = first + second + self.professions + list(p["ripa_pair"])
        vecs, found = embed_items(model, words, p["batch_size"])
        k, n_prof = len(first), len(self.professions)
        va, fa, vb, fb = vecs[:k], found[:k], vecs[k:2 * k], found[k:2 * k]
        vn, fn = vecs[2 * k:2 * k + n_prof], found[2 * k:2 * k + n_prof]
        vr, fr = vecs[2 * k + n_prof:], found[2 * k + n_prof:]

        ok_pairs = fa & fb
        dropped = [f"{a}/{b}" for (a, b), ok in zip(self.pairs, ok_pairs) if not ok]
        if dropped:
            warnings.warn(f"DirectBias: dropped definitional pair(s) with OOV words: {', '.join(dropped)}", BiasWarning)
        g, ratios = gender_direction(va[ok_pairs], vb[ok_pairs], n_components=p["n_components"])

        covered = fn
        if not covered.any():
            raise DataError("no profession word has a vector in this model", FOLDER)
        pair_words = set(first) | set(second)
        overlap = [w for w, c in zip(self.professions, covered) if c and w in pair_words]
        if overlap:
            warnings.warn(f"DirectBias: neutral words that are also definitional-pair words: {overlap}", BiasWarning)
        neutral = covered & np.array([w not in self.gender_specific for w in self.professions])
        scores = {}
        for c in p["c"]:
            tag = f"{float(c):g}"
            scores[f"direct_bias_{tag}"] = direct_bias(vn[covered], g, c)
            scores[f"direct_bias_{tag}_neutral"] = direct_bias(vn[neutral], g, c) if neutral.any() else float("nan")
        if "direct_bias_1" not in scores:
            scores["direct_bias_1"] = direct_bias(vn[covered], g, 1.0)
        scores["explained_variance_ratio_1"] = float(ratios[0])
        scores["coverage"] = float(covered.mean())

        proj = np.full(n_prof, np.nan)
        proj[covered] = projections(vn[covered], g)
        betas = np.full(n_prof, np.nan)
        ripa_details = None
        if fr.all():
            betas[covered] = ripa(vn[covered], vr[0], vr[1])["mean"]
            scores["ripa_mean"] = float(np.nanmean(betas))
            scores["ripa_mean_abs"] = float(np.nanmean(np.abs(betas)))
            multi = ripa(vn[covered], vb[ok_pairs], va[ok_pairs])  # male - female, as he - she
            scores["ripa_multi_pair_result"] = multi["result"]
            ripa_details = {"pair": list(p["ripa_pair"]),
                            "multi_pair_mean_std_across_pairs": float(multi["std"].mean()),
                            **_extremes(self.professions, betas, "beta")}
        details = {
            "pairs_used": [f"{a}/{b}" for (a, b), ok in zip(self.pairs, ok_pairs) if ok], "pairs_dropped": dropped,
            "explained_variance_ratio": [float(r) for r in ratios],
            "n_professions": n_prof, "n_covered": int(covered.sum()), "n_neutral": int(neutral.sum()),
            "oov_professions": [w for w, c in zip(self.professions, covered) if not c][:50],
            "overlap_with_pairs": overlap, "g_orientation": "first word of each pair (female) positive",
            "projection": _extremes(self.professions, proj, "cos"), "ripa": ripa_details,
        }
        return TaskOutput(scores=scores, details=details, sidecars={"projections": proj, "ripa": betas})


def _extremes(words, values, key, k=10) -> dict:
    ok = np.flatnonzero(np.isfinite(values))
    order = ok[np.argsort(values[ok])]
    pick = lambda idx: [{"word": words[i], key: float(values[i])} for i in idx]  # noqa: E731
    return {"lowest": pick(order[:k]), "highest": pick(order[::-1][:k])}


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"bad JSON ({e.msg})", path, e.lineno) from None


def direct_bias_task() -> DirectBiasTask:
    return DirectBiasTask()
