"""Sharded encoding: a run's texts encoded in shards by every worker of the executor before the jobs run.

A task that declares `texts_to_encode()` (after `load`: [(role, texts)], e.g. retrieval's queries and corpus)
lets the runner encode its texts ahead of the job: the texts of all such jobs are grouped by (model, role),
de-duplicated, looked up in the shared embedding cache, and the missing ones cut into shards of `shard_size`
texts (longest first, so the heaviest shards start first). The executor maps `encode_shard` over the shards
exactly as it maps jobs (local process pool or Dask: every worker takes shards as it frees up and loads each
model once, harness/runner.py `get_model`). A shard writes its vectors into the content-addressed cache as one
cache shard (vectors, then keys, each through a temp file and a rename), so:

- a shard already cached is never encoded again (its texts are found in the cache, here or on the worker);
- a worker lost mid-shard leaves nothing behind but a temp file; the executor runs the shard again (Dask:
  once more, then it is an error), and a shard that still fails is encoded by its job, so nothing is lost;
- every text is in exactly one shard, so the cache holds every vector once.

The jobs then run as before and find every vector in the cache; each result records in `sharded_encoding`
how many shards and texts each worker encoded for it. Vectors do not depend on which texts share a shard or a
batch (adapters batch by exact token length, adapters/models/st_batching.py), so a sharded encode is
byte-identical to a single-process one.
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field

import numpy as np

DEFAULT_SHARD_SIZE = 1024   # texts per shard: a few seconds of a small model's work, many shards per corpus


@dataclass(frozen=True)
class ShardSpec:
    model: str
    role: str | None
    texts: tuple[str, ...]
    number: int                    # 1-based, of `of` shards of this (model, role)
    of: int
    tasks: tuple[tuple[str, int], ...] = ()   # (task, how many of its texts are in this shard)

    @property
    def label(self) -> str:
        return f"{self.model} / encode {self.role or 'text'} shard {self.number}/{self.of}"


@dataclass
class ShardOutcome:
    spec: ShardSpec
    status: str                    # "ok" | "error"
    path: str | None = None
    worker: str = ""
    encoded: int = 0
    cached: int = 0
    seconds: float = 0.0
    error: str | None = None


@dataclass
class ShardPlan:
    shards: list[ShardSpec] = field(default_factory=list)
    texts: dict = field(default_factory=dict)   # (model, task) -> distinct texts it declared


def worker_name() -> str:
    """The Dask worker's address, else host:pid of this process."""
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def plan_shards(jobs, settings, *, shard_size: int = DEFAULT_SHARD_SIZE, get_model=None) -> ShardPlan:
    """The shards of the texts that `jobs`' tasks declare and the cache lacks."""
    from . import registry
    from .cache import EmbeddingCache, text_digests
    from .job_setup import is_done, prepare_job
    from .loaded_models import get_model as load_model
    get_model = get_model or load_model
    wanted: dict = {}                 # (model, role) -> {digest: text}
    serves: dict = {}                 # (model, role) -> {digest: set of tasks}
    plan = ShardPlan()
    for job in jobs:
        if not callable(getattr(registry.make_task(job.task), "texts_to_encode", None)):
            continue                  # the job encodes its own texts
        try:
            prepared = prepare_job(job, settings, get_model(job.model, settings.data_root).meta)
            if is_done(prepared, settings) is not None:
                continue              # resumed: nothing to encode
            declared = [(role, list(texts)) for role, texts in prepared.task.texts_to_encode()]
        except Exception:             # bad data or model: the job itself fails with that error, alone
            continue
        n_texts = 0
        for role, texts in declared:
            digests = text_digests(texts).tolist()
            pool = wanted.setdefault((job.model, role), {})
            owners = serves.setdefault((job.model, role), {})
            for d, t in zip(digests, texts):
                pool.setdefault(d, t)
                owners.setdefault(d, set()).add(job.task)
            n_texts += len(set(digests))
        plan.texts[(job.model, job.task)] = n_texts
    cache = EmbeddingCache(settings.cache_dir)
    for (model, role), pool in wanted.items():
        digests = np.array(list(pool), dtype="S32")
        _, missing = cache.store(get_model(model, settings.data_root).meta, role).read(digests)
        owners = serves[(model, role)]
        plan.shards += cut_shards(model, role, [pool[digests[i]] for i in missing.tolist()],
                                  [owners[digests[i]] for i in missing.tolist()], shard_size)
    return plan


def cut_shards(model: str, role: str | None, texts: list[str], owners: list[set], shard_size: int) -> list[ShardSpec]:
    """`texts` (distinct; `owners[i]`: the tasks that asked for texts[i]) cut into shards, longest first."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    n_shards = -(-len(order) // shard_size)
    shards = []
    for s in range(n_shards):
        part = order[s * shard_size:(s + 1) * shard_size]
        counts: dict = {}
        for i in part:
            for task in owners[i]:
                counts[task] = counts.get(task, 0) + 1
        shards.append(ShardSpec(model, role, tuple(texts[i] for i in part), s + 1, n_shards,
                                tuple(sorted(counts.items()))))
    return shards


def encode_shard(shard: ShardSpec, settings) -> ShardOutcome:
    """On a worker: encode one shard into the shared cache (texts already there are not encoded again)."""
    from .cache import EmbeddingCache
    from .embedding import CachedModel
    from .loaded_models import get_model
    t0 = time.perf_counter()
    try:
        cached = CachedModel(get_model(shard.model, settings.data_root), EmbeddingCache(settings.cache_dir),
                             flush_every=max(1, len(shard.texts)), progress=False)   # one cache shard per shard
        cached.encode(list(shard.texts), role=shard.role)
        return ShardOutcome(shard, "ok", worker=worker_name(), encoded=cached.stats["encoded"],
                            cached=cached.stats["cached"], seconds=time.perf_counter() - t0)
    except Exception as e:   # the job encodes what a failed shard left out
        return ShardOutcome(shard, "error", worker=worker_name(), seconds=time.perf_counter() - t0,
                            error=f"{type(e).__name__}: {e}")


def summarise(plan: ShardPlan, outcomes: list, shard_size: int) -> dict:
    """(model, task) -> the result's `sharded_encoding` block: shards and texts per worker, failures."""
    out: dict = {}
    for (model, task), n_texts in plan.texts.items():
        mine = [(o, dict(o.spec.tasks)[task]) for o in outcomes
                if o.spec.model == model and task in dict(o.spec.tasks)]
        by_worker: dict = {}
        for o, n in mine:
            if getattr(o, "status", "error") != "ok":
                continue
            w = by_worker.setdefault(o.worker, {"shards": 0, "texts": 0})
            w["shards"] += 1
            w["texts"] += n         # this task's texts in the shard (a shard may also hold another task's)
        failed = [f"{o.spec.label}: {o.error}" for o, _ in mine if getattr(o, "status", "error") != "ok"]
        out[f"{model}\t{task}"] = {"shard_size": shard_size, "texts": n_texts, "shards": len(mine),
                                   "workers": len(by_worker), "by_worker": by_worker, "failed": failed}
    return out


def run_shards(jobs, settings, executor, *, shard_size: int = DEFAULT_SHARD_SIZE) -> dict:
    """Plan and encode the shards of `jobs` on `executor`; the `sharded_encoding` blocks of the jobs."""
    from .progress import progress_bar
    plan = plan_shards(jobs, settings, shard_size=shard_size)
    outcomes = []
    if plan.shards:
        with progress_bar(total=len(plan.shards), desc="encode shards", unit="shard",
                          disable=not settings.progress) as bar:
            for outcome in executor.map(encode_shard, plan.shards, settings):
                outcomes.append(outcome)
                bar.set_postfix_str(f"{outcome.spec.label}: {outcome.status}", refresh=False)
                bar.update(1)
    return summarise(plan, outcomes, shard_size)
