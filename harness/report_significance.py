"""The leaderboard's uncertainty: each score with its 95% interval, the models not separable from the
leader marked, a rank-interval column and a win-probability heat map (Markdown report and site).

Reads only result files and their `items` sidecars (`harness.significance_ranks`). Per ranked task
column: the interval the result file records (`intervals.<main score>`; computed from the items when a
result has items but no interval), paired tests of every pair of models on the same items with Holm's
correction, and the group of the column's best model and the models not separable from it (Holm-adjusted
p >= alpha), shown in bold. Per ranked table (the overall one and each ranked task type): rank intervals
and P(A beats B) from resampling tasks and items together, ranking by Borda as the table does; the
overall table's matrix is drawn as a heat map. Results without per-item data render as before, and the
report's significance section says which results lack it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .report_entries import Entry
from .report_fields import is_number
from .report_tables import Table
from .significance_ranks import (ALPHA, B_TEST, DRAWS, SEED, ItemScores, PairTest, Ranks, TaskColumn,
                                 not_separable, pair_tests, rank_intervals, score_items)

RANK_COLUMN = "Rank interval (95%)"


@dataclass
class Significance:
    tests: dict[str, list[PairTest]] = field(default_factory=dict)      # column -> the pairs of its models
    ranks: dict[str, Ranks] = field(default_factory=dict)               # table key -> rank intervals
    titles: dict[str, str] = field(default_factory=dict)                # table key -> title
    intervals: dict[tuple[str, str], dict] = field(default_factory=dict)  # (model, column) -> interval block
    marked: set[tuple[str, str]] = field(default_factory=set)           # (model, column): not separable from best
    heatmap: Path | None = None
    notes: list[str] = field(default_factory=list)
    lacking: list[str] = field(default_factory=list)                    # result files without per-item data
    n_with_items: int = 0
    alpha: float = ALPHA
    B: int = B_TEST
    draws: int = DRAWS
    seed: int = SEED

    @property
    def available(self) -> bool:
        return self.n_with_items > 0


def _interval(e: Entry, items: ItemScores | None, notes: list[str]) -> dict | None:
    """The result's recorded interval of its main score, else one computed from its items."""
    block = (e.result.get("intervals") or {}).get(str(e.result.get("main_score_name")))
    if isinstance(block, dict) and is_number(block.get("low")) and is_number(block.get("high")):
        return block
    if items is None:
        return None
    from .significance import bootstrap_ci
    notes.append(f"{e.model} / {e.column}: no interval recorded in {e.rel}; computed from its items "
                 f"(B = {B_TEST}, seed {SEED})")
    block = bootstrap_ci(items.items, items.decl, B=B_TEST, seed=SEED)
    return block if is_number(block.get("low")) and is_number(block.get("high")) else None


def _best_first(group: list[Entry]) -> list[Entry]:
    lower = group[0].lower_is_better
    return sorted(group, key=lambda e: ((e.main_score if lower else -e.main_score), e.model))


def analyse(entries: list[Entry], tables: list[Table], *, plots_dir: Path | None = None, alpha: float = ALPHA,
            B: int = B_TEST, draws: int = DRAWS, seed: int = SEED) -> Significance:
    """Intervals, paired tests and rank intervals for the ranked tables; marks the tables in place
    (`Table.intervals`, `Table.marked`, the rank-interval column) and draws the heat map."""
    sig = Significance(alpha=alpha, B=B, draws=draws, seed=seed)
    ranked = [e for e in entries if e.ranked and e.ok]
    items: dict[int, ItemScores] = {}
    for e in ranked:
        got, why = score_items(e.path, e.result, model=e.model)
        if got is None:
            sig.lacking.append(why)
        else:
            items[id(e)] = got
        block = _interval(e, got, sig.notes)
        if block is not None:
            sig.intervals[(e.model, e.column)] = block
    sig.n_with_items = len(items)
    for t in tables:
        _show_intervals(t, sig)
    if not sig.available:
        return sig
    columns: dict[str, list[Entry]] = {}
    for e in ranked:
        if e.in_overall:
            columns.setdefault(e.column, []).append(e)
    for column, group in columns.items():
        _test_column(column, group, items, sig)
    task_columns = {c: TaskColumn(c, {e.model: e.main_score for e in group},
                                  {e.model: items[id(e)] for e in group if id(e) in items}, group[0].lower_is_better)
                    for c, group in columns.items()}   # one per task: its item draws serve every table
    for t in tables:
        _mark_table(t, sig, columns, task_columns)
    if plots_dir is not None and "overall" in sig.ranks:
        from .report_significance_views import plot_win_probability
        sig.heatmap = plot_win_probability(sig.ranks["overall"], plots_dir / "significance" / "win_probability.png")
    return sig


def _test_column(column: str, group: list[Entry], items: dict[int, ItemScores], sig: Significance) -> None:
    """Paired tests of a task column's models (best first), and the group not separable from its best."""
    order = _best_first(group)
    scored = [items[id(e)] for e in order if id(e) in items]
    if len(scored) < 2:
        return
    tests, notes = pair_tests(column, scored, B=sig.B, seed=sig.seed)
    sig.notes += notes
    sig.tests[column] = tests
    if id(order[0]) not in items:
        sig.notes.append(f"{column}: its best model, {order[0].model}, has no per-item data: no model is marked "
                         "as not separable from it")
    elif tests:
        sig.marked |= {(m, column) for m in not_separable(order[0].model, tests, sig.alpha)}


def _show_intervals(t: Table, sig: Significance) -> None:
    if not t.ranked:
        return
    for r in t.rows:
        for c in t.columns:
            block = sig.intervals.get((r["Model"], c))
            if block is not None:
                t.intervals[(r["Model"], c)] = (float(block["low"]), float(block["high"]))
    if t.intervals:
        _add_note(t, "each score with its 95% bootstrap interval over items")


def _add_note(t: Table, text: str) -> None:
    t.note = "; ".join(x for x in (t.note, text) if x)


def _mark_table(t: Table, sig: Significance, columns: dict[str, list[Entry]],
                task_columns: dict[str, TaskColumn]) -> None:
    """Bold cells, the rank-interval column and its note, on a ranked table."""
    if not t.ranked:
        return
    models = [r["Model"] for r in t.rows]
    bold = {(m, c) for m, c in sig.marked if c in t.columns}
    t.marked |= bold
    if bold:
        _add_note(t, f"bold: a task's best model and those a paired test on the same items does not separate "
                     f"from it (Holm-adjusted p >= {sig.alpha:g})")
    if t.key == "overall":
        wanted = list(columns)
    else:
        wanted = [c for c in t.columns if c in columns and columns[c][0].task_type == t.key]
    cols = [task_columns[c] for c in wanted]
    if not any(col.items for col in cols) or not models:
        return
    ranks = rank_intervals(cols, models, draws=sig.draws, seed=sig.seed)
    sig.ranks[t.key], sig.titles[t.key] = ranks, t.title
    if ranks.fixed:
        sig.notes.append(f"{t.title}: held fixed in the rank resampling (no per-item data): "
                         + ", ".join(ranks.fixed[:6]) + (" ..." if len(ranks.fixed) > 6 else ""))
    tied = ranks.tied_with_leader(sig.alpha) if len(models) > 1 else set()
    t.columns.insert(0, RANK_COLUMN)
    t.text_columns.add(RANK_COLUMN)
    for r in t.rows:
        lo, hi = ranks.interval(r["Model"])
        r[RANK_COLUMN] = f"[{lo}, {hi}]"
        if r["Model"] in tied:
            t.marked.add((r["Model"], "Model"))
    what = ("bold names: the leader and the models not separable from it across these tasks (Holm-adjusted "
            f"p >= {sig.alpha:g}); " if tied else "")
    _add_note(t, what + f"rank interval: 95% of the Borda ranks over {sig.draws} draws of tasks and items")
