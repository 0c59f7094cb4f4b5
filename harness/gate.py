"""`run.py gate`: compare result files against a baseline and fail CI on a regression.

Jobs are matched by (model, task, index name), not by job key: a job key changes whenever a dataset
checksum, a parameter or the model revision changes, and that is exactly when a regression check is
wanted. A differing job key is reported as a note naming what changed.

For each matched job the main score (or, with `--all-scores`, every numeric score) is compared with
an absolute tolerance and a direction that the task declares per score (`Task.score_rules`, recorded
in each result's `declared` block). The rule comes from the current result's `declared`, else the
baseline's, else the task registry (results written before tasks declared), else higher-is-better
with tolerance 0.001, and a note says so. No task type is known here by name.

- higher is better: below `baseline - tol` is a REGRESSION, above `baseline + tol` an IMPROVEMENT;
- lower is better: the mirror image;
- descriptive (geometry, bias, p-values): a move beyond `tol` either way is CHANGED, and fails the
  gate (nothing says which way is better; the embeddings changed);
- tolerance None: not gated (timings, QPS, sizes: they measure the machine, not the model).

`--tolerance X` sets the tolerance of every gated score; `--tolerance [TYPE:]METRIC=X` that of the
matching scores (globs; TYPE matches the result's task_type), keeping the declared direction.

`--significance [ALPHA]` (significance=alpha): a gated score that both results recompute from per-item
data (`items` sidecars) fails only when a paired test of the current items against the baseline's says
the move is real (p < alpha; `significance_ranks.gate_check`); a move beyond the tolerance that the test
does not confirm is NOISE (not failing). A score without per-item data on either side keeps the
tolerance rule, and a note names the file. p, difference and interval are printed and in the JUnit XML.

A job that failed now but was ok in the baseline is an ERROR and fails the gate. A baseline job with
no current result is MISSING: reported, and failing only with `--fail-on-missing`. Exit codes: 0 no
regression, 1 regression, 2 bad usage or unreadable input.
"""
from __future__ import annotations

import fnmatch
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import HarnessError
from .gate_output import format_table, junit_xml
from .report_fields import (Declared, ScoreDecl, flatten_scores, index_name, number, parse_declared,
                            registered_rule)
from .results import load_result_files

FALLBACK = ScoreDecl(True, 0.001)   # a score nobody declares: an MTEB-style fraction, a tenth of a point


@dataclass(frozen=True)
class Rule:
    tolerance: float | None  # absolute; None = not gated
    direction: int           # +1 higher is better, -1 lower is better, 0 either way is a change
    source: str = ""         # where it came from: declared, baseline, registry, fallback


@dataclass(frozen=True)
class Override:
    task_type: str           # glob over the result's task_type
    metric: str              # glob over the score name
    tolerance: float


FAILING = ("REGRESSION", "CHANGED", "ERROR")
CHECKED = ("ok", "REGRESSION", "IMPROVEMENT", "CHANGED", "NOISE")   # a score compared (not missing, not new)


@dataclass
class Finding:
    status: str            # REGRESSION | IMPROVEMENT | CHANGED | ERROR | MISSING | NEW | FIXED | ok
    model: str
    task: str
    index: str | None
    metric: str = ""
    baseline: float | None = None
    current: float | None = None
    tolerance: float | None = None
    note: str = ""
    p_value: float | None = None                    # significance mode: the paired test's p and the
    interval: tuple[float, float] | None = None     # 95% interval of the difference current - baseline

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline

    @property
    def job(self) -> str:
        return f"{self.model} / {self.task}" + (f" / {self.index}" if self.index else "")


@dataclass
class GateResult:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    compared_jobs: int = 0
    fail_on_missing: bool = False
    significance: float | None = None   # alpha of the significance mode; None: tolerances only

    def count(self, status: str) -> int:
        return sum(1 for f in self.findings if f.status == status)

    def fails(self, f: Finding) -> bool:
        return f.status in FAILING or (f.status == "MISSING" and self.fail_on_missing)

    @property
    def failed(self) -> bool:
        return any(self.fails(f) for f in self.findings)

    @property
    def checked(self) -> int:
        """Scores compared (not missing, not new)."""
        return sum(1 for f in self.findings if f.metric and f.status in CHECKED)


# ------------------------------------------------------------------------------------------ input
def job_id(result: dict) -> tuple[str, str, str | None]:
    """(model, task, index): the index is its grid point key where the result has one (every build point
    of a sweep is its own job), else its name, so baselines written before index grids still match."""
    index = result.get("index")
    point = index.get("point") if isinstance(index, dict) else None
    return str(result.get("model")), str(result.get("task")), str(point) if point else index_name(index)


def load_results(path: str | os.PathLike, what: str) -> tuple[dict[tuple, dict], list[str]]:
    """Results keyed by (model, task, index) from a folder, one result file, or a JSON list of results
    (or {"results": [...]}), and notes naming the files that were skipped and why."""
    results, _, notes = load_results_with_paths(path, what)
    return results, notes


def load_results_with_paths(path, what: str) -> tuple[dict[tuple, dict], dict[tuple, Path | None], list[str]]:
    """load_results, plus each result's file (None inside a JSON list: no sidecars beside it)."""
    p = Path(path)
    if not p.exists():
        raise HarnessError(f"{what} not found: {p}")
    notes: list[str] = []
    if p.is_dir():
        pairs, problems = load_result_files(p)
        items, files = [obj for _, obj in pairs], [f for f, _ in pairs]
        notes += [f"{what}: result file skipped: {problem}" for problem in problems]
    else:
        try:
            obj = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise HarnessError(f"{what} {p}: not readable JSON ({e})") from None
        if isinstance(obj, dict) and isinstance(obj.get("results"), list):
            obj = obj["results"]
        items = obj if isinstance(obj, list) else [obj]
        files = [None] * len(items) if isinstance(obj, list) else [p]
        for i, item in enumerate(items):
            if not (isinstance(item, dict) and "task" in item and "model" in item):
                raise HarnessError(f"{what} {p}: item {i} is not a result (a JSON object with 'task' and 'model')")
    out: dict[tuple, dict] = {}
    paths: dict[tuple, Path | None] = {}
    for r, f in zip(items, files):
        key = job_id(r)
        old = out.get(key)
        if old is None or str(r.get("created_at") or "") >= str(old.get("created_at") or ""):
            out[key], paths[key] = r, f
    return out, paths, notes


def parse_tolerances(values: list[str] | None) -> tuple[float | None, list[Override]]:
    """`--tolerance X` (every gated metric) and `--tolerance [TYPE:]METRIC=X` (globs), repeatable."""
    global_tol, overrides = None, []
    for raw in values or []:
        text = raw.strip()
        if "=" in text:
            target, _, num = text.rpartition("=")
            task_type, _, metric = target.rpartition(":") if ":" in target else ("*", "", target)
            overrides.append(Override(task_type.strip() or "*", metric.strip(), _tolerance_number(num, raw)))
        else:
            global_tol = _tolerance_number(text, raw)
    return global_tol, overrides


def _tolerance_number(text: str, raw: str) -> float:
    try:
        tol = float(text)
    except ValueError:
        raise HarnessError(f"--tolerance {raw!r}: expected a number or METRIC=NUMBER (e.g. ndcg_at_10=0.002)") from None
    if not math.isfinite(tol) or tol < 0:
        raise HarnessError(f"--tolerance {raw!r}: must be a finite number >= 0")
    return tol


def declared_rule(metric: str, task: str, current: Declared | None, baseline: Declared | None) -> Rule:
    """The direction and default tolerance of a score: the current result's declaration, else the
    baseline's, else the registered task's rule, else FALLBACK (source "fallback")."""
    for decl, source in ((current, "declared"), (baseline, "baseline")):
        if decl is not None and metric in decl.scores:
            d = decl.scores[metric]
            return Rule(d.tolerance, d.direction, source)
    d = registered_rule(task, metric)
    if d is not None:
        return Rule(d.tolerance, d.direction, "registry")
    return Rule(FALLBACK.tolerance, FALLBACK.direction, "fallback")


def rule_for(metric: str, task: str, task_type: str, current: Declared | None = None, baseline: Declared | None = None,
             overrides: list[Override] = (), global_tol: float | None = None) -> Rule:
    """The declared rule, with the user's `--tolerance` applied (a per-metric one keeps the direction and
    wins over the global one; the global one leaves ungated scores ungated)."""
    rule = declared_rule(metric, task, current, baseline)
    for o in overrides:
        if fnmatch.fnmatchcase(task_type, o.task_type) and fnmatch.fnmatchcase(metric, o.metric):
            return Rule(o.tolerance, rule.direction, rule.source + " + --tolerance")
    if global_tol is not None and rule.tolerance is not None:
        return Rule(global_tol, rule.direction, rule.source + " + --tolerance")
    return rule


# ------------------------------------------------------------------------------------------ compare
def key_change_note(base: dict, cur: dict) -> str:
    """Why two results of the same (model, task, index) have different job keys."""
    what = []
    bsha, csha = (base.get("dataset") or {}).get("sha256") or {}, (cur.get("dataset") or {}).get("sha256") or {}
    changed = sorted(f for f in set(bsha) | set(csha) if bsha.get(f) != csha.get(f))
    if changed:
        what.append("dataset checksum of " + ", ".join(changed[:4]) + (" ..." if len(changed) > 4 else ""))
    for fld in ("task_version", "split", "seed", "params", "model_revision", "index", "main_score_name"):
        if json.dumps(base.get(fld), sort_keys=True) != json.dumps(cur.get(fld), sort_keys=True):
            what.append(fld)
    return "job key differs: " + (", ".join(what) if what else "definition changed") + " (compared anyway)"


def compare(baseline: dict[tuple, dict], current: dict[tuple, dict], *, all_scores: bool = False,
            tolerances: list[str] | None = None, fail_on_missing: bool = False, significance: float | None = None,
            paths: tuple[dict, dict] = ({}, {})) -> GateResult:
    """paths: (baseline, current) result files by job, where the significance mode finds the sidecars."""
    global_tol, overrides = parse_tolerances(tolerances)
    out = GateResult(fail_on_missing=fail_on_missing, significance=significance)
    descriptive = 0
    for key in sorted(set(baseline) | set(current), key=lambda k: (k[1], k[2] or "", k[0])):
        model, task, index = key
        base, cur = baseline.get(key), current.get(key)
        if cur is None:
            if base.get("status") == "ok":
                out.findings.append(Finding("MISSING", model, task, index, str(base.get("main_score_name") or ""),
                                            number(base.get("main_score")), note="no current result"))
            continue
        if base is None:
            out.findings.append(Finding("NEW", model, task, index, str(cur.get("main_score_name") or ""),
                                        current=number(cur.get("main_score")), note="not in the baseline"))
            continue
        out.compared_jobs += 1
        if base.get("job_key") and cur.get("job_key") and base.get("job_key") != cur.get("job_key"):
            out.notes.append(f"{model} / {task}" + (f" / {index}" if index else "") + ": " + key_change_note(base, cur))
        b_ok, c_ok = base.get("status") == "ok", cur.get("status") == "ok"
        if not c_ok:
            if b_ok:
                out.findings.append(Finding("ERROR", model, task, index, str(base.get("main_score_name") or ""),
                                            number(base.get("main_score")),
                                            note=f"job failed: {str(cur.get('error'))[:200]}"))
            else:
                out.notes.append(f"{model} / {task}: failed in the baseline and now")
            continue
        if not b_ok:
            out.findings.append(Finding("FIXED", model, task, index, str(cur.get("main_score_name") or ""),
                                        current=number(cur.get("main_score")), note="failed in the baseline"))
            continue
        task_type = str(cur.get("task_type") or base.get("task_type") or "")
        main = str(base.get("main_score_name") or "")
        if cur.get("main_score_name") and cur.get("main_score_name") != main:
            out.notes.append(f"{model} / {task}: main score changed from {main} to {cur.get('main_score_name')}; "
                             f"compared {main}")
        b_scores, c_scores = flatten_scores(base.get("scores")), flatten_scores(cur.get("scores"))
        b_scores.setdefault(main, base.get("main_score"))
        c_scores.setdefault(main, cur.get("main_score"))
        metrics = sorted(b_scores, key=lambda m: (m != main, m)) if all_scores else [main]
        c_decl, b_decl = parse_declared(cur.get("declared")), parse_declared(base.get("declared"))
        guessed = []
        for metric in metrics:
            rule = rule_for(metric, task, task_type, c_decl, b_decl, overrides, global_tol)
            if rule.source.startswith("fallback") and number(b_scores.get(metric)) is not None:
                guessed.append(metric)
            f = _compare_metric(model, task, index, metric, b_scores.get(metric), c_scores.get(metric),
                                metric in c_scores, rule)
            if significance is not None and f.status in CHECKED and None not in (f.tolerance, f.baseline, f.current):
                from .significance_ranks import declared_ranked, gate_check
                why = gate_check(f, paths[0].get(key), base, paths[1].get(key), cur, significance,
                                 direction=rule.direction)
                if why and declared_ranked(cur):
                    out.notes.append(f"{f.job} {metric}: tolerance rule (not tested for significance): {why}")
                elif why:   # descriptive task types record no per-item data by design: one note for them all
                    descriptive += 1
            out.findings.append(f)
        if guessed:
            out.notes.append(f"{model} / {task}: nothing declares how to compare {', '.join(guessed[:5])}"
                             + (" ..." if len(guessed) > 5 else "") + " (no 'declared' block, and no task of that "
                             f"name is registered): compared as higher-is-better, tolerance {FALLBACK.tolerance:g}")
    if descriptive:
        out.notes.append(f"{descriptive} score(s) of descriptive (unranked) task types keep their tolerance rule "
                         "under --significance: those tasks record no per-item data")
    return out


def _compare_metric(model, task, index, metric, b_raw, c_raw, present: bool, rule: Rule) -> Finding:
    b, c = number(b_raw), number(c_raw)
    f = Finding("ok", model, task, index, metric, b, c, rule.tolerance)
    if b is None:
        if b_raw is not None:      # non-numeric in the baseline (a string): nothing to compare
            f.note = "not numeric in the baseline"
        return f
    if c is None:
        if rule.tolerance is None:
            return f
        f.status = "MISSING" if not present else "REGRESSION"
        f.note = "metric absent from the current result" if not present else "not a finite number now (NaN/null)"
        return f
    if rule.tolerance is None:
        f.note = "not gated (machine-dependent)"
        return f
    d = c - b
    if abs(d) <= rule.tolerance + 1e-12:
        return f
    if rule.direction == 0:
        f.status = "CHANGED"
    else:
        f.status = "IMPROVEMENT" if d * rule.direction > 0 else "REGRESSION"
    return f


def run_gate(baseline: str, results: str = "results", *, tolerances: list[str] | None = None,
             all_scores: bool = False, junit: str | None = None, fail_on_missing: bool = False,
             verbose: bool = False, significance: float | None = None) -> tuple[GateResult, str]:
    """significance: alpha of the significance mode (`--significance [ALPHA]`), None for tolerances only."""
    if significance is not None and not 0 < significance < 1:
        raise HarnessError(f"--significance {significance}: alpha must be between 0 and 1 (e.g. 0.05)")
    base, base_paths, base_notes = load_results_with_paths(baseline, "baseline")
    if not base:
        raise HarnessError(f"baseline {baseline}: no result files in it"
                           + (f" ({len(base_notes)} skipped: {base_notes[0]})" if base_notes else ""))
    cur, cur_paths, cur_notes = load_results_with_paths(results, "results folder")
    res = compare(base, cur, all_scores=all_scores, tolerances=tolerances, fail_on_missing=fail_on_missing,
                  significance=significance, paths=(base_paths, cur_paths))
    res.notes[:0] = base_notes + cur_notes
    if junit:
        p = Path(junit)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(junit_xml(res), encoding="utf-8")
    return res, format_table(res, verbose=verbose)
