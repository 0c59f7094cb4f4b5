"""Embedding cache: content addressing, keying on everything that changes a vector, crash safety."""
from __future__ import annotations

import numpy as np
import pytest

from adapters.models.callable import CallableModel
from harness.cache import EmbeddingCache, model_cache_key
from harness.embedding import CachedModel
from harness.errors import EmbeddingError

from .toy_models import trigram_vectors


class Counting:
    def __init__(self, **meta):
        self.calls = []
        self.inner = CallableModel(trigram_vectors, name="toy", dim=32, **meta)
        self.meta = self.inner.meta

    def encode(self, texts, **kw):
        self.calls.append(list(texts))
        return self.inner.encode(texts, **kw)


TEXTS = [f"sentence number {i} about {w}" for i, w in enumerate("cats dogs fish birds trees".split() * 20)]


def test_second_encode_is_served_from_cache_and_equal(tmp_path):
    m = Counting()
    a = CachedModel(m, EmbeddingCache(tmp_path), progress=False).encode(TEXTS)
    assert sum(map(len, m.calls)) == len(set(TEXTS))  # duplicates encoded once
    m2 = Counting()
    b = CachedModel(m2, EmbeddingCache(tmp_path), progress=False).encode(TEXTS[::-1])
    assert m2.calls == []  # a new process (new cache object) finds every vector on disk
    np.testing.assert_array_equal(a, b[::-1])
    np.testing.assert_array_equal(a, trigram_vectors(TEXTS))


def test_only_missing_texts_are_encoded(tmp_path):
    cache = EmbeddingCache(tmp_path)
    m = Counting()
    CachedModel(m, cache, progress=False).encode(TEXTS[:50])
    m.calls.clear()
    CachedModel(m, cache, progress=False).encode(TEXTS + ["a brand new text"])
    assert sorted(t for c in m.calls for t in c) == sorted(set(TEXTS[50:]) - set(TEXTS[:50]) | {"a brand new text"})


@pytest.mark.parametrize("change", [{"revision": "2"}, {"normalized": True}])
def test_key_changes_with_vector_changing_meta(tmp_path, change):
    base, other = Counting(), Counting(**change)
    assert model_cache_key(base.meta) != model_cache_key(other.meta)
    CachedModel(base, EmbeddingCache(tmp_path), progress=False).encode(TEXTS[:5])
    CachedModel(other, EmbeddingCache(tmp_path), progress=False).encode(TEXTS[:5])
    assert len(other.calls) == 1  # not served from the other model's entries


def test_roles_share_vectors_unless_the_model_has_prompts(tmp_path):
    m = Counting()
    cm = CachedModel(m, EmbeddingCache(tmp_path), progress=False)
    cm.encode(TEXTS[:5], role="query")
    cm.encode(TEXTS[:5], role="document")
    assert len(m.calls) == 1
    prompted = Counting()
    prompted.meta["prompts"] = {"query": "query: "}   # set before wrapping: meta is fixed from then on
    cm = CachedModel(prompted, EmbeddingCache(tmp_path), progress=False)
    cm.encode(TEXTS[:5], role="query")
    cm.encode(TEXTS[:5], role="document")
    assert len(prompted.calls) == 2


def test_meta_changed_by_an_encode_is_an_error_naming_the_model(tmp_path):
    class Drifting(Counting):   # what adapters that fill in meta on first load used to do
        def encode(self, texts, **kw):
            self.meta["max_seq_len"] = 256
            return super().encode(texts, **kw)

    cm = CachedModel(Drifting(), EmbeddingCache(tmp_path), progress=False)
    with pytest.raises(EmbeddingError, match=r"model 'toy' changed its meta while encoding \(max_seq_len: "
                                             r"None -> 256\)"):
        cm.encode(TEXTS[:5])
    assert cm.meta["max_seq_len"] is None   # the keys keep the meta the model was built with
    assert not list(tmp_path.rglob("shard-*"))   # nothing filed under the wrong key


def test_job_key_and_cache_key_read_one_definition():
    from harness import cache, runner
    from harness.model_meta import VECTOR_META_FIELDS, vector_meta
    assert vector_meta({"name": "m", "kind": "x"}) == {f: ("m" if f == "name" else None) for f in VECTOR_META_FIELDS}
    for module in (cache, runner):   # neither keeps its own list of fields
        assert "VECTOR_META_FIELDS" not in vars(module) and "max_seq_len" not in open(module.__file__).read()


def test_crash_leftovers_are_ignored(tmp_path):
    cache = EmbeddingCache(tmp_path)
    m = Counting()
    good = CachedModel(m, cache, progress=False).encode(TEXTS[:10])
    folder = next(tmp_path.rglob("shard-*.keys.npy")).parent
    # what a crash can leave: a vectors file without its keys file, a truncated temp file
    (folder / "shard-crashed.npy").write_bytes(b"\x93NUMPY garbage")
    (folder / ".shard-x.npy.123.tmp").write_bytes(b"partial")
    # and a keys file whose vectors are unreadable
    (folder / "shard-bad.keys.npy").write_bytes(b"nonsense")
    m2 = Counting()
    again = CachedModel(m2, EmbeddingCache(tmp_path), progress=False).encode(TEXTS[:10])
    assert m2.calls == [] and np.array_equal(good, again)


def test_report_and_clear(tmp_path):
    cache = EmbeddingCache(tmp_path)
    CachedModel(Counting(), cache, progress=False).encode(TEXTS)
    rows = cache.report()
    assert len(rows) == 1 and rows[0]["vectors"] == len(set(TEXTS)) and rows[0]["bytes"] > 0
    assert cache.clear() > 0 and cache.report() == []


def test_no_pickle_on_disk(tmp_path):
    CachedModel(Counting(), EmbeddingCache(tmp_path), progress=False).encode(TEXTS[:3])
    for f in tmp_path.rglob("*.npy"):
        np.load(f, allow_pickle=False)  # raises if any file needed pickle


def test_cached_vectors_for_readers_that_never_encode(tmp_path):
    m = Counting()
    encoded = CachedModel(m, EmbeddingCache(tmp_path), progress=False).encode(TEXTS[:10])
    cache = EmbeddingCache(tmp_path)
    np.testing.assert_array_equal(cache.cached_vectors(m.meta, TEXTS[:10][::-1]), encoded[::-1])
    assert cache.cached_vectors(m.meta, TEXTS[:11]) is None   # one text never encoded
