"""Retrieval metrics as mteb 2.26.24 computes them (methods.md §5.4); ANN recall (§6.1) is in ann.py.

- nDCG / MAP / recall / precision / hit rate at k come from `pytrec_eval` ("ndcg_cut", "map_cut",
  "recall", "P", "success"): trec_eval semantics (linear gain, log2 discount, ideal DCG from the
  qrels, score ties broken by doc id in descending string order). Queries of the qrels that are
  absent from the run are dropped by pytrec_eval, not scored 0; averages are over the queries
  evaluated.
- MRR@k is computed here, with mteb's tie-break: sort by (score, doc id), both descending.
- nAUC (Gisserot-Boukhlef et al. 2024, arXiv:2402.12997): for each per-query metric (nDCG, MAP,
  recall, precision, MRR at every k) and each query confidence (the top score `max`, the `std` of
  the retrieved scores, the gap `diff1` between the top two), the normalised area under the
  abstention curve: how well the confidence predicts which queries the retriever gets right
  (1 = as well as an oracle, 0 = no better than abstaining at random). mteb's computation: rates
  0.0-0.9, queries with equal confidence share their mean metric, NaN when every query scores alike.
- Rounding: mteb's `parse_metrics_from_scores` rounds nDCG, MAP, recall, precision and hit rate
  to 5 decimals and stores them rounded; MRR (and nAUC) it stores unrounded; `accuracy` is its
  rounded recall@1. `mteb_rounded()` applies exactly that, so a harness result compares key by key
  with an mteb result; `retrieval_scores(..., rounding=None)` gives every value unrounded.

Pure functions: qrels `{qid: {doc_id: int grade}}`, run `{qid: {doc_id: float score}}`.
"""
from __future__ import annotations

from operator import itemgetter
from typing import Iterable, Mapping

import numpy as np

K_VALUES = (1, 3, 5, 10, 20, 100, 1000)
ABSTENTION_RATES = np.linspace(0, 1, 11)[:-1]   # mteb's 0.0, 0.1, ..., 0.9
NAUC_PREFIXES = ("ndcg_at", "map_at", "recall_at", "precision_at", "mrr_at")   # mteb: not hit rate

# mteb key prefix -> pytrec_eval measure family
_PYTREC = {"ndcg_at": "ndcg_cut", "map_at": "map_cut", "recall_at": "recall", "precision_at": "P",
           "hit_rate_at": "success"}
ROUNDED_PREFIXES = tuple(_PYTREC)   # what mteb rounds to 5 decimals
PER_QUERY_PREFIXES = (*_PYTREC, "mrr_at")   # every per-query metric (`retrieval_scores` averages them)
_SCORE_THEN_ID = itemgetter(1, 0)   # (score, doc id): the key mteb sorts by, descending


def pytrec_per_query(qrels: Mapping, run: Mapping, k_values: Iterable[int] = K_VALUES) -> dict[str, dict[str, float]]:
    """pytrec_eval's per-query measures, keyed `<mteb prefix>_<k>` (e.g. ndcg_at_10)."""
    import pytrec_eval
    ks = sorted({int(k) for k in k_values})
    if not ks or ks[0] < 1:
        raise ValueError(f"k values must be positive integers, got {list(k_values)}")
    kstr = ",".join(map(str, ks))
    evaluator = pytrec_eval.RelevanceEvaluator(
        {q: dict(d) for q, d in qrels.items()}, {f"{family}.{kstr}" for family in _PYTREC.values()})
    raw = evaluator.evaluate({q: dict(d) for q, d in run.items()})
    out = {}
    for qid, m in raw.items():
        out[qid] = {f"{prefix}_{k}": float(m[f"{family}_{k}"]) for prefix, family in _PYTREC.items() for k in ks}
    return out


def ranked(doc_scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """(doc, score) best first: score descending, ties by doc id descending (pytrec_eval / mteb)."""
    return sorted(doc_scores.items(), key=_SCORE_THEN_ID, reverse=True)


def mrr_per_query(qrels: Mapping, run: Mapping, k_values: Iterable[int] = K_VALUES) -> dict[str, dict[str, float]]:
    """Reciprocal rank of the first relevant (grade > 0) doc within the top k, per query in the run."""
    ks = sorted({int(k) for k in k_values})
    out = {}
    for qid, doc_scores in run.items():
        relevant = {d for d, g in qrels.get(qid, {}).items() if g > 0}
        order = ranked(doc_scores)[: max(ks)]
        first = next((r for r, (d, _) in enumerate(order, 1) if d in relevant), None)
        out[qid] = {f"mrr_at_{k}": (1.0 / first if first is not None and first <= k else 0.0) for k in ks}
    return out


def retrieval_scores(qrels: Mapping, run: Mapping, k_values: Iterable[int] = K_VALUES, *,
                     rounding: str | None = "mteb") -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(averaged scores, per-query scores). Averages are float64 sums / number of queries.

    `rounding="mteb"` rounds as mteb stores (see module doc); `None` leaves every value unrounded.
    Only queries present in both qrels and run are evaluated (pytrec_eval's rule); MRR is averaged
    over the same queries.
    """
    evaluated = {q: d for q, d in run.items() if q in qrels}
    if not evaluated:
        raise ValueError("no query of the run has qrels: nothing to evaluate")
    per_query = pytrec_per_query(qrels, evaluated, k_values)
    for qid, m in mrr_per_query(qrels, evaluated, k_values).items():
        per_query.setdefault(qid, {}).update(m)
    keys = list(next(iter(per_query.values())))
    n = len(per_query)
    scores = {key: float(sum(per_query[q][key] for q in per_query) / n) for key in keys}
    scores.update(abstention_scores(evaluated, per_query))
    ks = sorted({int(k) for k in k_values})
    if 1 in ks:
        scores["accuracy"] = scores["recall_at_1"]   # mteb 2.x: accuracy := recall@1
    if rounding == "mteb":
        scores = mteb_rounded(scores)
    elif rounding is not None:
        raise ValueError(f"rounding must be 'mteb' or None, got {rounding!r}")
    return dict(sorted(scores.items())), per_query


def confidence_scores(doc_scores: Mapping[str, float]) -> dict[str, float]:
    """One query's confidences from its retrieved documents' scores: max, std, top-1 minus top-2."""
    values = np.fromiter(doc_scores.values(), dtype=np.float64, count=len(doc_scores))
    if values.size == 0:
        return {"max": 0.0, "std": 0.0, "diff1": 0.0}
    top2 = np.sort(values)[::-1][:2]
    return {"max": float(top2[0]), "std": float(np.std(values)),
            "diff1": float(top2[0] - top2[1]) if values.size > 1 else 0.0}


def abstention_curve(confidence: np.ndarray, metric: np.ndarray, rates: np.ndarray = ABSTENTION_RATES) -> np.ndarray:
    """Mean metric of the queries kept when the least confident fraction `rate` abstains."""
    if confidence.size == 0:
        return np.full(len(rates), np.nan)
    order = np.argsort(confidence, kind="stable")
    conf, values = confidence[order], metric[order]
    # a cut inside a group of equal confidences keeps the group's mean (random tie-breaking's expectation)
    starts = np.flatnonzero(np.r_[True, conf[1:] != conf[:-1]])
    sizes = np.diff(np.r_[starts, len(conf)])
    values = np.repeat(np.add.reduceat(values, starts) / sizes, sizes)
    n = len(conf)
    return np.array([values[min(round(rate * n), n - 1):].mean() for rate in rates])


def nauc(confidence, metric, rates: np.ndarray = ABSTENTION_RATES) -> float:
    """(AUC - flat AUC) / (oracle AUC - flat AUC) of the abstention curve; NaN when oracle = flat."""
    confidence, metric = np.asarray(confidence, dtype=np.float64), np.asarray(metric, dtype=np.float64)
    curve = abstention_curve(confidence, metric, rates)
    oracle = abstention_curve(metric, metric, rates)
    area, oracle_area = np.trapezoid(curve, rates), np.trapezoid(oracle, rates)
    flat_area = oracle[0] * (rates[-1] - rates[0])
    if oracle_area == flat_area:
        return float("nan")
    return float((area - flat_area) / (oracle_area - flat_area))


def abstention_scores(run: Mapping, per_query: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """`nauc_<metric>_<confidence>` for every per-query metric mteb abstains on (NAUC_PREFIXES)."""
    qids = list(per_query)
    per_query_conf = [confidence_scores(run[q]) for q in qids]
    confidences = {name: np.array([c[name] for c in per_query_conf]) for name in ("max", "std", "diff1")}
    keys = [k for k in per_query[qids[0]] if k.startswith(NAUC_PREFIXES)]
    out = {}
    for key in keys:
        metric = np.array([per_query[q][key] for q in qids])
        for name, confidence in confidences.items():
            out[f"nauc_{key}_{name}"] = nauc(confidence, metric)
    return out


def mteb_rounded(scores: Mapping[str, float]) -> dict[str, float]:
    """Round the keys mteb rounds (pytrec_eval families and accuracy) to 5 decimals; keep the rest."""
    return {k: (round(v, 5) if k.startswith(ROUNDED_PREFIXES) or k == "accuracy" else v) for k, v in scores.items()}


def search_run(query_ids, doc_ids, ids: np.ndarray, dists: np.ndarray) -> dict:
    """A pytrec_eval run from an index search: per query, doc id -> score = -distance (the exact float32
    value), empty slots (id -1) dropped; the i-th row of `ids` / `dists` belongs to `query_ids[i]`."""
    return {qid: {doc_ids[j]: -d for j, d in zip(row_ids.tolist(), row_d.tolist()) if j >= 0}
            for qid, row_ids, row_d in zip(query_ids, ids, dists)}


def apply_identical_id_rule(run: dict, ignore_identical_ids: bool) -> dict:
    """mteb's `ignore_identical_ids`: drop docs whose id equals the query id (returns a new run)."""
    if not ignore_identical_ids:
        return run
    return {q: {d: s for d, s in docs.items() if d != q} for q, docs in run.items()}


def skip_first(run: dict) -> dict:
    """mteb's `skip_first_result`: drop each query's top-scored doc (mteb sorts by score only)."""
    return {q: dict(sorted(docs.items(), key=lambda x: x[1], reverse=True)[1:]) for q, docs in run.items()}
