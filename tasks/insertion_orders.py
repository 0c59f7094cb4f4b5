"""Insertion orders of the HNSW insertion-order study (methods.md §1.2): permutations of the base rows.

- `random`: `np.random.default_rng(seed).permutation(n)`, one per seed (the baseline, R >= 5).
- `lid_desc` / `lid_asc`: stable sort by pointwise LID (ties keep row order).
- `by_category`: stable sort by the source's labels (sorted label order, or first-seen order).
- `clustered`: stable sort by k-means cluster: scikit-learn `KMeans` (Lloyd, one init, `niter`
  iterations, seeded) trained on at most 256 seeded points per centroid (faiss's default sample),
  then each row's nearest centroid. (It was faiss Kmeans; tasks no longer import index libraries.)
- `given`: the source's row order, or a permutation read from a user `.npy`.
"""
from __future__ import annotations

import time

import numpy as np

from harness.errors import DataError, HarnessError

ORDER_KINDS = ("random", "lid_desc", "lid_asc", "by_category", "clustered", "given")
KMEANS_POINTS_PER_CENTROID = 256   # faiss's default training sample per centroid
CATEGORY_ORDERS = ("sorted", "first_seen")


def random_order(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n)


def sort_order(values, descending: bool = False) -> np.ndarray:
    """Stable argsort: ties keep their row order (methods.md §1.2)."""
    v = np.asarray(values)
    return np.argsort(-v if descending else v, kind="stable")


def category_order(labels, how: str = "sorted") -> np.ndarray:
    """Rows grouped by label: labels in sorted order, or in the order they first appear."""
    labels = np.asarray(labels)
    if how == "sorted":
        return np.argsort(labels, kind="stable")
    if how == "first_seen":
        _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        return np.argsort(rank[inv.ravel()], kind="stable")
    raise HarnessError(f"category_order must be one of {', '.join(CATEGORY_ORDERS)}, got {how!r}")


def kmeans_labels(base: np.ndarray, clusters: int, seed: int, niter: int = 20) -> np.ndarray:
    """k-means cluster per row: KMeans(n_init=1, max_iter=niter, random_state=seed) on at most 256
    points per centroid drawn with `seed`, then each row's nearest centroid."""
    from sklearn.cluster import KMeans
    n = len(base)
    sample = base
    if n > clusters * KMEANS_POINTS_PER_CENTROID:
        rows = np.random.default_rng(seed).choice(n, clusters * KMEANS_POINTS_PER_CENTROID, replace=False)
        sample = base[np.sort(rows)]
    km = KMeans(n_clusters=int(clusters), n_init=1, max_iter=int(niter), tol=0.0, random_state=int(seed))
    km.fit(np.asarray(sample, dtype=np.float32))
    return km.predict(np.asarray(base, dtype=np.float32)).astype(np.int64)


def expand_orders(orders, has_labels: bool) -> list[str]:
    if orders == "all":
        return [o for o in ORDER_KINDS if o != "by_category" or has_labels]
    if isinstance(orders, str) or not isinstance(orders, (list, tuple)):
        raise HarnessError(f'orders must be "all" or a list of {", ".join(ORDER_KINDS)}; got {orders!r}')
    bad = [o for o in orders if o not in ORDER_KINDS]
    if bad:
        raise HarnessError(f"unknown order(s) {bad}; valid: {', '.join(ORDER_KINDS)}")
    if "by_category" in orders and not has_labels:
        raise HarnessError("order by_category needs labels, and this vector source has none (gmm, or npy with "
                           "a labels file, have them; use 'clustered' for a k-means grouping)")
    return list(dict.fromkeys(orders))


def make_orders(kinds: list[str], base: np.ndarray, p: dict, *, lid=None, labels=None, given=None,
                timings: dict | None = None) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """({order name: permutation}, {order name: how it was made}) of the base rows for the order kinds,
    from the task params `p` (random_seeds, lid_k, category_order, clusters, cluster_seed, given_order).
    `lid` is needed for the LID orders, `labels` for by_category, `given` (a loaded array or None) for given."""
    n = len(base)
    orders: dict[str, np.ndarray] = {}
    info: dict[str, dict] = {}
    for kind in kinds:
        if kind == "random":
            for s in p["random_seeds"]:
                orders[f"random:{int(s)}"] = random_order(n, int(s))
                info[f"random:{int(s)}"] = {"kind": "random", "seed": int(s),
                                            "rule": "np.random.default_rng(seed).permutation(n)"}
        elif kind in ("lid_desc", "lid_asc"):
            orders[kind] = sort_order(lid, descending=kind == "lid_desc")
            info[kind] = {"kind": kind, "lid_k": int(p["lid_k"]), "lid_form": "amsaleg", "sort": "stable"}
        elif kind == "by_category":
            orders[kind] = category_order(labels, p["category_order"])
            info[kind] = {"kind": kind, "category_order": p["category_order"],
                          "n_categories": int(len(np.unique(labels)))}
        elif kind == "clustered":
            c = int(p["clusters"]) if p["clusters"] else max(2, min(50, n // 100))
            if not 2 <= c <= n:
                raise HarnessError(f"clusters must be in 2..n ({n}), got {c}")
            t0 = time.perf_counter()
            orders[kind] = category_order(kmeans_labels(base, c, int(p["cluster_seed"])), "sorted")
            if timings is not None:
                timings["kmeans"] = time.perf_counter() - t0
            info[kind] = {"kind": kind, "clusters": c, "seed": int(p["cluster_seed"]),
                          "method": f"scikit-learn KMeans(n_init=1, max_iter=20, tol=0) on at most "
                                    f"{KMEANS_POINTS_PER_CENTROID} seeded points per centroid; rows stable-sorted "
                                    "by nearest centroid"}
        elif kind == "given":
            if given is not None:
                perm = np.asarray(given)
                if perm.shape != (n,) or not np.array_equal(np.sort(perm), np.arange(n)):
                    raise DataError(f"given_order must hold a permutation of 0..{n - 1} (one entry per base row), "
                                    f"got shape {perm.shape}", p["given_order"])
                orders[kind] = perm.astype(np.int64)
                info[kind] = {"kind": kind, "file": str(p["given_order"])}
            else:
                orders[kind] = np.arange(n, dtype=np.int64)
                info[kind] = {"kind": kind, "rule": "the source's row order"}
    return orders, info
