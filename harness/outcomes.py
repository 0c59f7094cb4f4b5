"""The outcome of work no worker could finish, for every executor (process pool, Dask)."""
from __future__ import annotations


def failed_outcome(job, error: str):
    """An "error" outcome for a job, or for an encoding shard (the job then encodes what the shard left out)."""
    from .runner import JobOutcome
    from .sharding import ShardOutcome, ShardSpec
    if isinstance(job, ShardSpec):
        return ShardOutcome(job, "error", error=error)
    return JobOutcome(job, "error", None, error=error)
