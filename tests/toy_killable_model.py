"""A toy model (a `$HARNESS_PLUGINS` module) whose process is killed in the middle of its first encode, for
the sharded-encoding worker-loss test: with $TOY_KILL_DIR set, the first encode of any process that wins the
marker file there writes its pid and SIGKILLs itself, as an out-of-memory kill would; $TOY_ENCODE_SLEEP
seconds per encode call. Vectors: toy-bow's."""
from __future__ import annotations

import os
import signal
import time

from adapters.models.callable import CallableModel
from harness import registry
from tests.toy_bow_model import DIM, bag_of_words


def _encode(texts):
    time.sleep(float(os.environ.get("TOY_ENCODE_SLEEP", "0")))   # work that takes time: shards spread over workers
    kill_dir = os.environ.get("TOY_KILL_DIR")
    if kill_dir:
        try:
            fd = os.open(os.path.join(kill_dir, "killed"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            fd = None
        if fd is not None:
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            half = bag_of_words(texts[: len(texts) // 2])   # mid-shard: part of the work done, nothing cached
            del half
            os.kill(os.getpid(), signal.SIGKILL)
    return bag_of_words(texts)


def toy_killable() -> CallableModel:
    return CallableModel(_encode, name="toy-killable", dim=DIM, revision="1")


registry.MODELS["toy-killable"] = "tests.toy_killable_model:toy_killable"


def die_or_echo(job, settings):
    """A job function for the process-pool worker-loss test: job = (name, how). 'ok' returns ('ok', name) after
    settings['sleep'] seconds; 'once' SIGKILLs its worker the first time (marker file in settings['kill_dir']);
    'always' SIGKILLs it every time."""
    name, how = job
    time.sleep(settings["sleep"])
    if how == "always" or (how == "once" and _first(os.path.join(settings["kill_dir"], name))):
        os.kill(os.getpid(), signal.SIGKILL)
    return ("ok", name)


def _first(marker: str) -> bool:
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False
