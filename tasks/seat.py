"""SEAT (May et al. 2019): WEAT on sentence encoders, over the sent-bias test files.

Data: `seat/tests/*.jsonl` (one JSON object per file despite the extension) with `targ1`, `targ2`,
`attr1`, `attr2`, each `{category, examples}`. Every file is one test (one row): the sentence-level
`sent-*` files already hold the bleached-template sentences (sent-bias generated them), and the
word-level files are encoded word by word, as sent-bias does. Statistics as WEAT (effect size ddof
1, permutation p-value with 100,000 samples, exact when C(2n, n) <= n_samples, seed 1111).

The templates are versioned data (`tasks/data/seat_templates.json`, sent-bias @ e3559fb); with
`regenerate_sentences=True` each `sent-X` test is rebuilt from its word-level `X` file with them
(random truncation of unequal target sets uses the task seed), so the templates can be changed and
the effect compared. `bleach_word` / `bleach_test` apply them to any word list.
"""
from __future__ import annotations

import json
import re
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from harness.data import DatasetRecord, task_folder
from harness.errors import DataError

from .base import TaskOutput
from .metrics.bias import DEFAULT_N_SAMPLES, DEFAULT_SEED, MAX_LOST_FRACTION, BiasWarning
from .weat import SET_ROLES, BiasTask, check_common_params, embed_tests, run_test, select_tests, summary_scores

FOLDER = "seat"
TEMPLATES_PATH = Path(__file__).resolve().parent / "data" / "seat_templates.json"
FILE_KEYS = ("targ1", "targ2", "attr1", "attr2")  # -> X, Y, A, B


# -------------------------------------------------------------------------------- bleached templates
@lru_cache(maxsize=4)
def load_templates(path: str = str(TEMPLATES_PATH)) -> dict:
    p = Path(path)
    if not p.is_file():
        raise DataError("SEAT template file not found", p)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"bad JSON ({e.msg})", p, e.lineno) from None
    for key in ("version", "word_classes", "templates", "person_regex", "article", "plural"):
        if key not in data:
            raise DataError(f"missing field {key!r}", p)
    return data


def _article(term: str, t: dict) -> str:
    art = t["article"]
    an = any(term.startswith(c) for c in art["an_prefixes"])
    return "an" if an and not any(term.startswith(c) for c in art["a_prefixes_override"]) else "a"


def _fill(template: str, term: str, t: dict) -> str:
    s = template.format(article=_article(term, t), term=term)
    return s[0].upper() + s[1:]


def _pluralize(s: str, t: dict) -> str:
    for pattern, repl in t["plural"]["irregular_regex"]:
        if re.search(pattern, s):
            return re.sub(pattern, repl, s)
    if s.endswith("y") and s[-2] not in "aeiou":
        return s[:-1] + "ies"
    if s.endswith(("ch", "sh", "s")):
        return s + "es"
    return s + "s"


def _singularize(s: str, t: dict) -> str:
    irregular = t["plural"].get("singular_of_plural_nouns", {})
    if s in irregular:
        return irregular[s]
    return s[:-1] if s.endswith("s") else s


def bleach_word(term: str, templates: dict | None = None) -> list[str]:
    """The bleached sentences for one word (sent-bias `generate_basic_contexts.py` rules)."""
    t = templates or load_templates()
    wc, tp = t["word_classes"], t["templates"]
    fill = lambda group, w: [_fill(x, w, t) for x in tp[group]]  # noqa: E731
    if term[:1].isupper() and not term.endswith("American") and term != term.upper():
        return fill("name", term)
    for cls, group in (("adjectives", "adjective"), ("verbs", "verb"), ("mass_nouns", "mass_noun"),
                       ("subject_pronouns", "subject_pronoun"), ("object_pronouns", "object_pronoun"),
                       ("possessive_pronouns", "possessive_pronoun")):
        if term in wc[cls]:
            return fill(group, term)
    if term in wc["plural_nouns"]:
        singular, plural = _singularize(term, t), term
    else:
        singular, plural = term, _pluralize(term, t)
    person = re.search(t["person_regex"], term) is not None
    return (fill("singular_noun", singular) + fill("singular_person" if person else "singular_thing", singular)
            + fill("plural_noun", plural) + fill("plural_person" if person else "plural_thing", plural))


def bleach_test(test: dict, *, seed: int = DEFAULT_SEED, templates: dict | None = None) -> dict:
    """A word-level test {targ1: {category, examples}, ...} -> its sentence-level version.

    Target sets of unequal size after templating are truncated at random to the smaller size
    (order kept), as sent-bias does (its own random draw cannot be reproduced).
    """
    out = {k: {"category": v["category"], "examples": [s for w in v["examples"] for s in bleach_word(w, templates)]}
           for k, v in test.items()}
    x, y = out["targ1"]["examples"], out["targ2"]["examples"]
    if len(x) != len(y):
        rng = np.random.default_rng(seed)
        k = min(len(x), len(y))
        out["targ1"]["examples"] = [x[i] for i in np.sort(rng.choice(len(x), k, replace=False))]
        out["targ2"]["examples"] = [y[i] for i in np.sort(rng.choice(len(y), k, replace=False))]
    return out


# --------------------------------------------------------------------------------------------- data
def read_test_file(path: Path) -> dict:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"bad JSON ({e.msg})", path, e.lineno) from None
    if not isinstance(obj, dict):
        raise DataError("expected one JSON object with targ1, targ2, attr1, attr2", path)
    for key in FILE_KEYS:
        part = obj.get(key)
        if not isinstance(part, dict) or not isinstance(part.get("examples"), list) or not part["examples"]:
            raise DataError(f"field {key!r} must be {{category, examples: [non-empty list]}}", path)
        if not all(isinstance(e, str) and e.strip() for e in part["examples"]):
            raise DataError(f"field {key!r}: every example must be a non-empty string", path)
    return obj


def as_sets(obj: dict) -> dict[str, tuple[str, list[str]]]:
    return {role: (str(obj[k].get("category", k)), list(obj[k]["examples"])) for role, k in zip(SET_ROLES, FILE_KEYS)}


class SEATTask(BiasTask):
    name = "SEAT"
    main_score = "mean_abs_effect_size"
    plots = ("tasks.plots.bias:plot_effect_sizes",)
    version = 1
    seed = DEFAULT_SEED

    def default_params(self):
        return {"tests": None, "ddof": 1, "n_samples": DEFAULT_N_SAMPLES, "alternative": "greater",
                "truncate": None, "max_lost": MAX_LOST_FRACTION, "parametric": False,
                "regenerate_sentences": False, "batch_size": None}

    def load(self, data_root: Path | None) -> DatasetRecord:
        check_common_params(self.params)
        folder = task_folder(data_root, "SEAT", f"{FOLDER}/tests", f"{FOLDER}/tests/", "SEAT test files")
        rec = DatasetRecord(path=str(folder))
        files = sorted(folder.glob("*.jsonl"), key=lambda f: _natural_key(f.stem))
        if not files:
            raise DataError("no *.jsonl test files", folder)
        raw = {f.stem: read_test_file(rec.add(f, folder)) for f in files}
        if self.params["regenerate_sentences"]:
            templates = load_templates()
            for stem in list(raw):
                source = stem[len("sent-"):]
                if stem.startswith("sent-") and source in raw:
                    raw[stem] = bleach_test(raw[source], seed=self.seed, templates=templates)
            rec.sha256["templates:seat_templates.json"] = _sha256_of(TEMPLATES_PATH)
        self.tests = select_tests({k: as_sets(v) for k, v in raw.items()}, self.params["tests"], "SEAT")
        self.dataset = rec
        return rec

    def evaluate(self, model, index=None) -> TaskOutput:
        # Always `encode`: word-vector adapters then mean-pool the tokens of each sentence.
        vec_of = embed_tests(model, self.tests, self.params["batch_size"], use_lookup=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BiasWarning)
            rows = [run_test(name, sets, vec_of, self.params, self.seed) for name, sets in self.tests.items()]
        for r in rows:  # sentences end with a full stop; words and names do not
            items = [w for role in SET_ROLES for w in self.tests[r["test"]][role][1]]
            r["level"] = "sentence" if all(w.rstrip().endswith(".") for w in items) else "word"
        details = {"tests": rows, "effect_size_ddof": self.params["ddof"],
                   "templates": {"version": load_templates()["version"], "file": "tasks/data/seat_templates.json",
                                 "regenerated": bool(self.params["regenerate_sentences"])},
                   "p_value": {"alternative": self.params["alternative"], "n_samples": self.params["n_samples"],
                               "exact_when": "C(2n, n) <= n_samples", "seed": self.seed}}
        return TaskOutput(scores=summary_scores(rows), details=details)


def _natural_key(s: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s)]


def _sha256_of(path: Path) -> str:
    from harness.data import sha256_file
    return sha256_file(path)


def seat() -> SEATTask:
    return SEATTask()
