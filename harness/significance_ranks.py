"""Is the difference real? Paired tests between models on one task, rank intervals and win probabilities
across a benchmark, and the gate's paired check of a result against its baseline.

Reads only result files and their `items` sidecars (`<stem>.items.npy`, declared in `declared.items`);
every statistic, interval, paired test and Holm correction comes from `harness.significance`.

- **Per task** (`pair_tests`): for each pair of models, a paired test on the same items (the
  difference a - b of the score's statistic, its interval and a p-value; permutation by default), the
  p-values Holm-corrected across the pairs of the task. Models whose items differ in count or dataset
  checksum are not paired, and a note says why.
- **Across a benchmark** (`rank_intervals`): each draw resamples the tasks with replacement and,
  within each task, its items (one index draw per task, shared by the models: paired), recomputes
  every model's statistic and ranks the models as the leaderboard does (MTEB's Borda count: `n - rank`
  points per task, ties averaged, a missing task 0; or by mean score). The 95% rank interval is the
  2.5th-97.5th percentile of a model's rank over the draws (the lower one rounded down, the upper up);
  P(A beats B) is the share of draws where A's total is above B's, ties counting half. A model's
  p-value against the leader L is the paired bootstrap's two-sided `min(1, 2 (k + 1) / (D + 1))`, k the
  number of the D draws where the other model wins (k = D min(P(L beats B), P(B beats L))), Holm-corrected
  over the models compared with the leader; p >= alpha: not separable from the leader. A score with no
  per-item data is held fixed in the draws (only the task resampling moves it), and the caller notes it.
- **Gate** (`gate_test`): current against baseline on the same items, difference = current - baseline.

Seeds: each task's item draws come from the seed `seed << 32 | crc32(task)`, the task draws from
`default_rng(seed)`: equal seeds, equal results, whatever the order of the tasks.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

B_TEST = 2000        # permutations (and bootstrap draws) of a paired test in the report and the gate
DRAWS = 1000         # benchmark draws for rank intervals and win probabilities
SEED = 16
ALPHA = 0.05
LEVEL = 0.95


def _sig():
    from . import significance   # helper H's module: statistics, bootstrap_ci, paired_test, holm
    return significance


# ------------------------------------------------------------------------------------------ items
@dataclass
class ItemScores:
    """One model's per-item data for one score of one task: the columns the score is recomputed from."""
    model: str
    path: Path
    items: np.ndarray        # (n_items, k): the score's own columns, in its declared order
    decl: dict               # {"statistic": name, "columns": [...]}
    dataset: str             # the dataset checksums (canonical JSON): items align only on equal data

    @property
    def n(self) -> int:
        return int(self.items.shape[0])


def sidecar_name(path: Path) -> str:
    return f"{Path(path).stem}.items.npy"


def score_items(path, result: dict, score: str | None = None, model: str | None = None
                ) -> tuple[ItemScores | None, str]:
    """The per-item data of a score (default: the main score), or (None, why not, naming the file)."""
    path = Path(path)
    score = score or str(result.get("main_score_name"))
    block = (result.get("declared") or {}).get("items") if isinstance(result.get("declared"), dict) else None
    if not isinstance(block, dict) or not isinstance(block.get("columns"), list):
        why = ("its task is descriptive (not ranked) and records none" if not declared_ranked(result) else
               "the result has no declared.items: written before per-item data?")
        return None, f"{path}: no per-item data ({why})"
    decl = (block.get("scores") or {}).get(score)
    if not isinstance(decl, dict) or not isinstance(decl.get("columns"), list):
        return None, f"{path}: its per-item data does not cover the score {score} (declared.items.scores)"
    try:
        items = _sig().load_items(path, result)
        chosen = None if items is None else _sig().select(items, decl, [str(c) for c in block["columns"]])
    except Exception as e:   # noqa: BLE001  (a broken sidecar is a message, never a crash)
        return None, f"{path}: per-item data not usable ({type(e).__name__}: {e})"
    if chosen is None:
        return None, f"{path}: no per-item data ({sidecar_name(path)} is missing)"
    sha = (result.get("dataset") or {}).get("sha256") if isinstance(result.get("dataset"), dict) else None
    return ItemScores(model or str(result.get("model")), path, np.asarray(chosen, dtype=np.float64), dict(decl),
                      json.dumps(sha, sort_keys=True)), ""


def declared_ranked(result: dict) -> bool:
    """The result's task declares itself ranked (True when nothing says otherwise)."""
    declared = result.get("declared")
    return not (isinstance(declared, dict) and declared.get("ranked") is False)


def not_paired(a: ItemScores, b: ItemScores) -> str:
    """Why two models' items cannot be paired ("" when they can)."""
    if a.n != b.n:
        return f"{a.model} has {a.n} items ({a.path.name}), {b.model} {b.n} ({b.path.name})"
    if a.dataset != b.dataset:
        return f"the dataset checksums of {a.path} and {b.path} differ"
    if a.decl.get("statistic") != b.decl.get("statistic"):
        return f"{a.model} and {b.model} declare different statistics"
    return ""


# ------------------------------------------------------------------------------------------ one task
@dataclass
class PairTest:
    task: str
    a: str
    b: str
    difference: float        # statistic(a) - statistic(b)
    low: float
    high: float
    p_value: float
    p_holm: float
    method: str
    B: int
    seed: int
    n_items: int


def pair_tests(task: str, scores: list[ItemScores], *, B: int = B_TEST, seed: int = SEED,
               method: str = "permutation") -> tuple[list[PairTest], list[str]]:
    """Every pair of `scores` (in the order given: a before b), Holm-corrected across the task's pairs: one
    `significance.paired_tests` call per kind of items, so each model is resampled once for all its pairs."""
    sig, notes, pairs = _sig(), [], []
    for i, a in enumerate(scores):
        for b in scores[i + 1:]:
            why = not_paired(a, b)
            if why:
                notes.append(f"{task}: {a.model} vs {b.model} not tested: {why}")
            else:
                pairs.append((a, b))
    # pairs of one kind of items (count, dataset, statistic) tested together: each model resampled once
    kinds: dict[tuple, list] = {}
    for a, b in pairs:
        kinds.setdefault((a.n, a.dataset, a.decl.get("statistic")), []).append((a, b))
    done: dict[tuple[int, int], dict] = {}
    for group in kinds.values():
        models = list({id(s): s for pair in group for s in pair}.values())
        at = {id(s): k for k, s in enumerate(models)}
        try:
            tests = sig.paired_tests([s.items for s in models], group[0][0].decl,
                                     [(at[id(a)], at[id(b)]) for a, b in group], method=method, B=B, seed=seed)
            done.update({(id(a), id(b)): t for (a, b), t in zip(group, tests)})
        except Exception:   # noqa: BLE001  (one untestable pair must not lose the others: test them one by one)
            for a, b in group:
                try:
                    done[(id(a), id(b))] = sig.paired_test(a.items, b.items, a.decl, method=method, B=B, seed=seed)
                except Exception as e:   # noqa: BLE001
                    notes.append(f"{task}: {a.model} vs {b.model} not tested: {type(e).__name__}: {e}")
    raw = [(a, b, done[(id(a), id(b))]) for a, b in pairs if (id(a), id(b)) in done]
    adjusted = sig.holm([t["p_value"] for _, _, t in raw]) if raw else []
    tests = [PairTest(task, a.model, b.model, _num(t["difference"]), _num(t["low"]), _num(t["high"]),
                      _num(t["p_value"]), _num(p), str(t.get("method", method)), int(t.get("B", B)),
                      int(t.get("seed", seed)), int(t.get("n_items", a.n)))
             for (a, b, t), p in zip(raw, adjusted)]
    return tests, notes


def _num(v) -> float:
    """A float, NaN for None (a statistic undefined on these items, e.g. a constant column)."""
    return float("nan") if v is None else float(v)


def not_separable(leader: str, tests: list[PairTest], alpha: float = ALPHA) -> set[str]:
    """The leader and the models its Holm-adjusted paired p-value does not separate from it."""
    group = {leader}
    for t in tests:
        if leader in (t.a, t.b) and not t.p_holm < alpha:   # NaN (untestable) is not a separation
            group.add(t.b if t.a == leader else t.a)
    return group


# ------------------------------------------------------------------------------------------ benchmark
@dataclass
class TaskColumn:
    """One ranked task of a benchmark: observed scores of the models that have it, per-item data where known."""
    name: str
    observed: dict[str, float]
    items: dict[str, ItemScores] = field(default_factory=dict)
    lower_is_better: bool = False
    resampled: dict = field(default_factory=dict, repr=False)   # (draws, seed) -> {model: (draws,) values}


@dataclass
class Ranks:
    models: list[str]        # as given (the table's row order)
    rank: np.ndarray         # observed rank (Borda `min` ranks, as the leaderboard)
    low: np.ndarray          # rank interval
    high: np.ndarray
    win: np.ndarray          # win[a, b] = P(a beats b); diagonal 0.5
    p_leader: np.ndarray     # two-sided bootstrap p against the leader (nan for the leader)
    p_holm: np.ndarray       # Holm-adjusted over the models compared with the leader
    leader: str
    draws: int
    seed: int
    rank_by: str
    level: float
    fixed: list[str] = field(default_factory=list)   # "model / task" held fixed (no per-item data)

    def interval(self, model: str) -> tuple[int, int]:
        i = self.models.index(model)
        return int(self.low[i]), int(self.high[i])

    def tied_with_leader(self, alpha: float = ALPHA) -> set[str]:
        return {m for m, p in zip(self.models, self.p_holm) if m == self.leader or p >= alpha}


def _task_seed(seed: int, name: str) -> int:
    """The seed of one task's item draws: from the run's seed and the task's name, not its position."""
    return (int(seed) << 32) | zlib.crc32(name.encode("utf-8"))


def _pairable(col: TaskColumn) -> dict[str, ItemScores]:
    """The column's per-item data that can be resampled together: the items most models share (count,
    dataset checksum, statistic; the first model's on a tie)."""
    keys = {m: (s.n, s.dataset, s.decl.get("statistic")) for m, s in col.items.items()}
    common = max(keys.values(), key=list(keys.values()).count) if keys else None
    return {m: s for m, s in col.items.items() if keys[m] == common}


def _item_draws(col: TaskColumn, models: list[str], draws: int, seed: int) -> np.ndarray:
    """(draws, M): each model's statistic on `draws` resamples of the task's items, the same resamples for
    every model (harness.significance's resampling engine, with each statistic's fast path); a model
    without usable items keeps its observed score, a model without the task is NaN."""
    out = np.full((draws, len(models)), np.nan)
    for j, m in enumerate(models):
        if m in col.observed:
            out[:, j] = col.observed[m]
    if (draws, seed) not in col.resampled:   # once per column, whichever tables rank it
        col.resampled[(draws, seed)] = _resample(col, draws, seed)
    for j, m in enumerate(models):
        if m in col.resampled[(draws, seed)]:
            out[:, j] = col.resampled[(draws, seed)][m]
    return out


def _resample(col: TaskColumn, draws: int, seed: int) -> dict[str, np.ndarray]:
    usable = _pairable(col)
    if not usable:
        return {}
    sig = _sig()
    stats = {m: sig.statistic(s.decl["statistic"]) for m, s in usable.items()}
    # the engine's own draws (shared indices, counts for the statistics that take them, incomplete items
    # left out), as bootstrap_ci and paired_test make them
    pairs = [(sig.nan_safe(stats[m], s.items), s.items) for m, s in usable.items()]
    thetas = sig.bootstrap_distributions(pairs, next(iter(usable.values())).n, draws, _task_seed(seed, col.name))
    return {m: sig.recentred(stats[m], stats[m](s.items), theta)[0]
            for (m, s), theta in zip(usable.items(), thetas)}


def borda_points(scores: np.ndarray) -> np.ndarray:
    """MTEB's Borda points over the last axis (models): `M - rank`, ties averaged, NaN (missing) 0."""
    m = scores.shape[-1]
    x, y = scores[..., :, None], scores[..., None, :]
    better = (y > x).sum(axis=-1)
    ties = (y == x).sum(axis=-1)
    return np.where(np.isnan(scores), 0.0, m - (better + (ties + 1) / 2.0))


def _totals(signed: np.ndarray, tidx: np.ndarray | None, rank_by: str) -> np.ndarray:
    """Per draw, each model's total over the (resampled) tasks: Borda points, or the mean score."""
    per_task = borda_points(signed) if rank_by == "borda" else np.where(np.isnan(signed), -np.inf, signed)
    if tidx is not None:
        per_task = np.take_along_axis(per_task, tidx[:, :, None], axis=1)
    return per_task.sum(axis=1) if rank_by == "borda" else per_task.mean(axis=1)


def _min_ranks(totals: np.ndarray) -> np.ndarray:
    return 1 + (totals[..., None, :] > totals[..., :, None]).sum(axis=-1)


def rank_intervals(columns: list[TaskColumn], models: list[str], *, draws: int = DRAWS, seed: int = SEED,
                   rank_by: str = "borda", level: float = LEVEL) -> Ranks:
    """Rank intervals, win probabilities and p-values against the leader from resampling tasks and items."""
    if rank_by not in ("borda", "mean"):
        raise ValueError(f"rank_by must be 'borda' or 'mean', not {rank_by!r}")
    if not columns or not models:
        raise ValueError("rank intervals need at least one task and one model")
    signs = np.array([-1.0 if c.lower_is_better else 1.0 for c in columns])
    observed = np.array([[c.observed.get(m, np.nan) for m in models] for c in columns]) * signs[:, None]
    sampled = np.stack([_item_draws(c, models, draws, seed) for c in columns], axis=1) * signs[None, :, None]
    tidx = np.random.default_rng(seed).integers(0, len(columns), size=(draws, len(columns)))
    totals = _totals(sampled, tidx, rank_by)                      # (D, M)
    ranks = _min_ranks(totals)
    rank = _min_ranks(_totals(observed[None], None, rank_by))[0]
    tail = (1 - level) / 2
    low = np.quantile(ranks, tail, axis=0, method="lower")
    high = np.quantile(ranks, 1 - tail, axis=0, method="higher")
    win = ((totals[:, :, None] > totals[:, None, :]) + 0.5 * (totals[:, :, None] == totals[:, None, :])).mean(axis=0)
    lead = min(range(len(models)), key=lambda i: (rank[i], i))
    p = np.minimum(1.0, 2 * (np.minimum(win[lead], win[:, lead]) * draws + 1) / (draws + 1))
    p[lead] = np.nan
    others = [i for i in range(len(models)) if i != lead]
    p_holm = np.full(len(models), np.nan)
    if others:
        p_holm[others] = _sig().holm(p[others])
    fixed = [f"{m} / {c.name}" for c in columns for m in models if m in c.observed and m not in _pairable(c)]
    return Ranks(list(models), rank, low, high, win, p, p_holm, models[lead], draws, seed, rank_by, level, fixed)


# ------------------------------------------------------------------------------------------ gate
def gate_test(base_path, base: dict, cur_path, cur: dict, score: str, *, B: int = B_TEST, seed: int = SEED,
              method: str = "permutation") -> tuple[dict | None, str]:
    """Paired test of the current result against the baseline's items for one score: the test
    (difference = current - baseline, low, high, p_value, ...) or (None, why not, naming the file)."""
    b, why = score_items(base_path, base, score, "baseline")
    if b is None:
        return None, "baseline " + why
    c, why = score_items(cur_path, cur, score, "current")
    if c is None:
        return None, "current " + why
    why = not_paired(c, b)
    if why:
        return None, f"items not comparable: {why}"
    if np.array_equal(c.items, b.items, equal_nan=True):   # the usual re-run: every permutation is the identity
        return {"difference": 0.0, "low": 0.0, "high": 0.0, "p_value": 1.0, "method": "identical items", "B": 0,
                "seed": seed, "n_items": c.n}, ""
    return _sig().paired_test(c.items, b.items, c.decl, method=method, B=B, seed=seed), ""


def gate_check(finding, base_path, base: dict, cur_path, cur: dict, alpha: float, *, B: int = B_TEST,
               seed: int = SEED, direction: int = 1) -> str:
    """The gate's significance mode on one score (`harness.gate.Finding`, changed in place): a move fails
    only when the paired test of the current items against the baseline's says it is real (p < alpha).

    REGRESSION / IMPROVEMENT (CHANGED for a descriptive score) when significant; NOISE when the move is
    beyond the tolerance but not significant; ok otherwise. Returns "" when tested, else why not (naming
    the file): the finding then keeps the verdict of the tolerance rule."""
    if base_path is None:
        return "the baseline is a JSON list of results, with no sidecars beside it"
    test, why = gate_test(base_path, base, cur_path, cur, finding.metric, B=B, seed=seed)
    if test is None:
        return why
    d, p = test.get("difference"), test.get("p_value")
    if d is None or p is None:
        return f"the statistic is undefined on the items of {cur_path}"
    finding.p_value, finding.interval = float(p), (_num(test.get("low")), _num(test.get("high")))
    beyond = finding.tolerance is not None and abs(finding.current - finding.baseline) > finding.tolerance + 1e-12
    if p < alpha and d != 0:
        finding.status = "CHANGED" if direction == 0 else "IMPROVEMENT" if d * direction > 0 else "REGRESSION"
    else:
        finding.status = "NOISE" if beyond else "ok"
    lo, hi = finding.interval
    verdict = f" >= {alpha:g}: within the noise" if finding.status in ("ok", "NOISE") else f" < {alpha:g}"
    finding.note = ("identical items, p 1" if test.get("method") == "identical items" else
                    f"paired {test.get('method', 'permutation')} test (B={test.get('B', B)}): "
                    f"difference {d:+.6g} [{lo:+.6g}, {hi:+.6g}], p {p:.3g}{verdict}")
    return ""
