"""The indexes an index study compares, as task parameters: registry names, or specs with extra parameters.

HNSWInsertionOrder and RankingShift take `indexes`: a list whose entries are a registry name
("hnswlib") or {"name": ..., "build": {...}, "query": {...}, "label": ...}. The task owns the
build grid (`metric`, `M`, `ef_construction`) and the swept query parameter `ef`; a spec adds the
index's own extras (threads, seeds, chunk sizes), passed to `harness.registry.make_index` with the
grid (build) and to every search (query). `label` (default: the name) names the index in scores
and records (`<label>_recall_random_mean`; the records' `library` field); labels must be unique.
So an index added to the registry is studied by naming it, with no other edit.

The defaults keep both studies deterministic and single-threaded: hnswlib inserts with 1 thread
(its adapter default, seed 100); faiss-hnsw builds and searches on 1 OpenMP thread and, when an
order is given, adds it in consecutive chunks of n // 100 rows (its adapter default). Another
index is as deterministic as its adapter makes it; its spec is recorded in the result.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.errors import HarnessError

DEFAULT_INDEXES = ("hnswlib", {"name": "faiss-hnsw", "build": {"omp_threads": 1}, "query": {"omp_threads": 1}})
TASK_BUILD = ("metric", "M", "ef_construction")   # set by the task's build grid, not by a spec
TASK_QUERY = ("ef",)                              # swept by the task
SPEC_KEYS = ("name", "build", "query", "label")


@dataclass(frozen=True)
class IndexSpec:
    name: str
    label: str
    build: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)

    def make(self, metric: str, grid: dict):
        """An unbuilt index: the registry's `name` with the task's metric and build grid plus this spec's build."""
        from harness.registry import make_index
        return make_index(self.name, metric=metric, **grid, **self.build)

    def search(self, index, queries, k: int, ef: int):
        return index.search(queries, k, ef=int(ef), **self.query)

    def describe(self) -> dict:
        return {"label": self.label, "name": self.name, "build": dict(self.build), "query": dict(self.query)}


def default_indexes() -> list:
    return [dict(s) if isinstance(s, dict) else s for s in DEFAULT_INDEXES]


def parse_indexes(task_name: str, value, grid: dict) -> list[IndexSpec]:
    """Check the `indexes` parameter (names exist, extras are known to each adapter, labels unique) and
    return its specs. `grid`: one build of the task's grid, used to construct each index once (nothing is
    built), so an unknown parameter fails here with the adapter's list of valid ones."""
    from harness.registry import check_names
    where = f"task {task_name}: parameter 'indexes'"
    if isinstance(value, (str, dict)) or not isinstance(value, (list, tuple)) or not value:
        raise HarnessError(f"{where} must be a non-empty list of index names or {{'name', 'build', 'query', "
                           f"'label'}} specs, got {value!r}")
    specs = []
    for entry in value:
        spec = {"name": entry} if isinstance(entry, str) else entry
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise HarnessError(f"{where}: each entry is a registry name or a dict with a 'name', got {entry!r}")
        unknown = sorted(set(spec) - set(SPEC_KEYS))
        if unknown:
            raise HarnessError(f"{where}: unknown key(s) {unknown} in {entry!r}; valid: {', '.join(SPEC_KEYS)}")
        build, query = spec.get("build") or {}, spec.get("query") or {}
        if not isinstance(build, dict) or not isinstance(query, dict):
            raise HarnessError(f"{where}: 'build' and 'query' must be objects, got {entry!r}")
        owned = sorted(set(build) & set(TASK_BUILD)) + sorted(set(query) & set(TASK_QUERY))
        if owned:
            raise HarnessError(f"{where}: {owned} are set by the task (build grid {', '.join(TASK_BUILD)}; swept "
                               f"{', '.join(TASK_QUERY)}), not by an index spec: {entry!r}")
        check_names("index", [spec["name"]])
        specs.append(IndexSpec(spec["name"], str(spec.get("label") or spec["name"]), dict(build), dict(query)))
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise HarnessError(f"{where}: labels must be unique (give 'label' to tell two specs of one index apart), "
                           f"got {labels}")
    for s in specs:
        index = s.make("l2", grid)
        known = set(index.spec().get("query", {}))
        missing = sorted(set(TASK_QUERY) - known) + sorted(set(s.query) - known)
        if missing:
            raise HarnessError(f"{where}: index {s.name!r} has no query parameter(s) {missing}; its query "
                               f"parameters: {', '.join(sorted(known)) or 'none'}")
    return specs
