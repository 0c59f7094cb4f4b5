"""The HTTP embedding adapter (OpenAI's `POST /embeddings`) against a real server on 127.0.0.1.

The server (tests/embedding_server.py) answers with the packaged MiniLM's vectors, read from the
project's embedding cache (the `minilm` fixture encodes any text not cached yet), so a job through
HTTP must give exactly the in-process MiniLM's scores: float32 -> JSON -> float32 is lossless. The
server shuffles the items of each answer, so a client that ignored `index` would score differently.
Faults (429 with Retry-After, 500, a slow answer past the timeout, a wrong dimension, a malformed
body, a wrong count, NaN, bad indexes, a killed server) each get a retry or an error naming the
request. Backoff is made tiny through the settings (`backoff=0.001`); Retry-After is honoured anyway.
"""
from __future__ import annotations

import email.utils
import json
import math
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from adapters.models.http_embeddings import HttpEmbeddingModel, from_spec, openai_from_spec, parse_spec
from adapters.models.http_transport import EndpointError, EndpointUnavailable, retry_after_seconds
from harness.cache import EmbeddingCache
from harness.embedding import CachedModel
from harness.errors import HarnessError
from harness.runner import JobSpec, RunSettings, release_model, run_job

from .embedding_server import EmbeddingServer
from .toy_models import trigram_vectors

FAST = "backoff=0.001&max_wait=5&max_retries=2"
TEXTS = [f"sentence {i} about {w}" for i, w in enumerate("cats dogs fish birds trees".split() * 2)]


def _sts_texts(path: Path) -> list[str]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return list(dict.fromkeys(t for r in rows for t in (r["sentence1"], r["sentence2"])))


@pytest.fixture(scope="module")
def minilm_table(data_root, minilm):
    """Text -> MiniLM vector for every STSBenchmark text: what the server answers with."""
    texts = _sts_texts(data_root / "stsbenchmark" / "test.jsonl")
    vecs = minilm.encode(texts)
    table = dict(zip(texts, vecs))
    return lambda batch: np.stack([table[t] for t in batch])


@pytest.fixture(scope="module")
def small_root(data_root, tmp_path_factory) -> Path:
    """Every 10th STSBenchmark pair (138): for the tests that run several jobs."""
    root = tmp_path_factory.mktemp("small_sts")
    lines = (data_root / "stsbenchmark" / "test.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (root / "stsbenchmark").mkdir()
    (root / "stsbenchmark" / "test.jsonl").write_text("".join(lines[::10]), encoding="utf-8")
    return root


def _job(model: str, root: Path, work: Path):
    release_model()   # a fresh adapter, as a new run would build
    settings = RunSettings(results_dir=str(work / "results"), data_root=str(root), cache_dir=str(work / "cache"),
                           progress=False, overwrite=True)
    outcome = run_job(JobSpec(model, "STSBenchmark"), settings)
    return outcome, json.loads(Path(outcome.path).read_text())


def _minilm_scores(root: Path, tmp: Path) -> dict:
    from .conftest import CACHE_DIR
    release_model()
    settings = RunSettings(results_dir=str(tmp / "ref"), data_root=str(root), cache_dir=str(CACHE_DIR), progress=False)
    outcome = run_job(JobSpec("all-MiniLM-L6-v2", "STSBenchmark"), settings)
    assert outcome.status == "ok", outcome.error
    return json.loads(Path(outcome.path).read_text())["scores"]


def test_scores_equal_the_in_process_minilm_on_stsbenchmark(data_root, minilm_table, tmp_path):
    reference = _minilm_scores(data_root, tmp_path)
    texts = _sts_texts(data_root / "stsbenchmark" / "test.jsonl")
    with EmbeddingServer(minilm_table, shuffle=True) as server:
        name = f"http:all-MiniLM-L6-v2@{server.url}#version=test-1&batch_size=64&concurrency=4&{FAST}"
        t0 = time.perf_counter()
        outcome, result = _job(name, data_root, tmp_path)
        seconds = time.perf_counter() - t0
        assert outcome.status == "ok", outcome.error
        assert result["scores"] == reference   # identical vectors: exactly equal, every score
        batches = math.ceil(len(texts) / 64)
        assert server.requests == batches and server.shuffled > batches // 2   # answers really were out of order
        usage = result["model_usage"]
        tokens = sum(len(t.split()) for t in texts)
        assert {k: usage[k] for k in ("requests", "retries", "failed_requests", "failed_batches", "texts",
                                      "prompt_tokens", "total_tokens")} == {
            "requests": batches, "retries": 0, "failed_requests": 0, "failed_batches": 0, "texts": len(texts),
            "prompt_tokens": tokens, "total_tokens": tokens}
        lat = usage["latency_s"]
        assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"] < seconds
        assert usage["endpoint"] == f"{server.url}/embeddings" and result["model_revision"] == "test-1"
        # a second run: every vector from the cache, no request sent
        outcome, again = _job(name, data_root, tmp_path)
        assert again["scores"] == reference and server.requests == batches
        assert again["model_usage"]["requests"] == 0 and again["embedding_cache"]["encoded"] == 0
    print(f"STSBenchmark ({len(texts)} texts, {batches} requests) over HTTP: {seconds:.2f} s")


@pytest.mark.parametrize("fault", ["429", "500", "slow"])
def test_a_transient_failure_is_retried(fault):
    with EmbeddingServer(trigram_vectors, retry_after="1", slow_s=1.0) as server:
        model = from_spec(f"toy@{server.url}#version=1&batch_size=4&concurrency=1&{FAST}&timeout=0.3")
        server.faults = [fault]
        t0 = time.perf_counter()
        vecs = model.encode(TEXTS)
        seconds = time.perf_counter() - t0
    np.testing.assert_array_equal(vecs, trigram_vectors(TEXTS))
    usage = model.usage()
    assert server.requests == 4 and usage["requests"] == 4   # 3 batches, one sent twice
    assert (usage["retries"], usage["failed_requests"], usage["failed_batches"]) == (1, 1, 0)
    if fault == "429":   # Retry-After: 1 is honoured although backoff is a millisecond
        assert seconds >= 1.0 and usage["wait_s"] >= 1.0


def test_retry_after_as_seconds_or_http_date():
    now = time.time()
    assert retry_after_seconds("7") == 7.0 and retry_after_seconds(" 0 ") == 0.0
    assert retry_after_seconds(email.utils.formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert retry_after_seconds(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None


@pytest.mark.parametrize("fault,reason", [("500", r"HTTP 500: internal error"),
                                          ("slow", r"no answer within timeout=0.3 s"),
                                          ("429", r"HTTP 429: rate limit reached")])
def test_retries_give_up_with_an_error_naming_the_request(fault, reason):
    with EmbeddingServer(trigram_vectors, retry_after="0", slow_s=0.6) as server:
        model = from_spec(f"toy@{server.url}#version=1&batch_size=4&concurrency=1&{FAST}&timeout=0.3")
        server.faults, server.always = ["ok"], fault
        with pytest.raises(EndpointUnavailable) as err:
            model.encode(TEXTS)
    where = rf"request 2/3 \(texts 4-7 of 10\) to POST http://127\.0\.0\.1:{server.port}/v1/embeddings"
    assert err.match(rf"^{where}: {reason}.*; gave up after 3 attempt\(s\) \(max_retries=2\)$")
    assert server.requests == 4 and model.usage()["failed_batches"] == 1


@pytest.mark.parametrize("fault,what", [
    ("dim", "embedding 0 has dimension 31, expected 32"),
    ("json", r"the answer is not JSON \(Expecting value: line 1 column 49 \(char 48\)\); it starts '\{\"object\""),
    ("count", "3 embeddings in the answer for 4 texts sent"),
    ("nan", r"the answer's embeddings: non-finite value \(NaN or Inf\) in row 3"),
    ("index", r"the items' 'index' fields are not 0..3 once each \(got \[0, 1, 2, 0\]\)")])
def test_an_answer_outside_the_protocol_is_an_error_naming_the_request(fault, what):
    with EmbeddingServer(trigram_vectors) as server:
        model = from_spec(f"toy@{server.url}#version=1&batch_size=4&concurrency=1&dimensions=32&{FAST}")
        server.faults = [fault]
        with pytest.raises(EndpointError, match=rf"^request 1/3 \(texts 0-3 of 10\) to POST "
                                                rf"http://127\.0\.0\.1:{server.port}/v1/embeddings: {what}"):
            model.encode(TEXTS)
    assert server.requests == 1   # not retried: the same request would get the same answer


def test_after_a_failure_the_requests_in_flight_are_cached_and_no_new_one_starts(tmp_path):
    with EmbeddingServer(trigram_vectors, slow_s=0.3) as server:
        model = from_spec(f"toy@{server.url}#version=1&batch_size=4&concurrency=2&{FAST}")
        server.faults = ["json", "slow"]   # the first fails at once while the second is still being answered
        cached = CachedModel(model, EmbeddingCache(tmp_path), progress=False)
        with pytest.raises(EndpointError, match=r"request [12]/3"):
            cached.encode(TEXTS)
    assert server.requests == 2
    first, second = server.payloads   # in the order the faults were handed out
    assert EmbeddingCache(tmp_path).cached_vectors(model.meta, second["input"]) is not None
    assert EmbeddingCache(tmp_path).cached_vectors(model.meta, first["input"]) is None


def test_every_answer_has_the_dimension_of_the_first():
    with EmbeddingServer(trigram_vectors) as server:
        model = from_spec(f"toy@{server.url}#version=1&batch_size=4&concurrency=1&{FAST}")
        server.faults = ["ok", "dim"]
        with pytest.raises(EndpointError, match=r"request 2/3 .*: embedding 0 has dimension 31, expected 32"):
            model.encode(TEXTS)


def test_a_killed_server_leaves_every_finished_batch_cached_and_a_rerun_sends_only_the_rest(
        small_root, minilm_table, tmp_path):
    texts = _sts_texts(small_root / "stsbenchmark" / "test.jsonl")
    with EmbeddingServer(minilm_table, die_after=5) as first:
        name = f"http:minilm@{first.url}#version=kill-1&batch_size=16&concurrency=2&{FAST}&timeout=1"
        outcome, failed = _job(name, small_root, tmp_path)
    answered = first.texts_answered()
    assert outcome.status == "error" and 5 <= len(first.answered) < math.ceil(len(texts) / 16)
    assert "gave up after 3 attempt(s)" in failed["error"] and "to POST http://127.0.0.1" in failed["error"]
    assert failed["model_usage"]["failed_batches"] >= 1
    from harness.registry import make_model
    model = make_model(name)
    cache = EmbeddingCache(tmp_path / "cache")
    stored = cache.cached_vectors(model.meta, answered)   # every answered request is in the cache
    assert stored is not None and np.array_equal(stored, minilm_table(answered))
    folder = next((tmp_path / "cache").glob("minilm-*/any"))
    assert len(list(folder.glob("shard-*.keys.npy"))) == len(first.answered)   # one small shard per answer

    with EmbeddingServer(minilm_table, port=first.port) as second:   # back on the same address
        outcome, done = _job(name, small_root, tmp_path)
    assert outcome.status == "ok", outcome.error
    resent = second.texts_answered()
    assert not set(resent) & set(answered) and sorted(resent + answered) == sorted(texts)
    assert done["model_usage"]["requests"] == second.requests == math.ceil(len(resent) / 16)
    assert done["scores"] == _minilm_scores(small_root, tmp_path)
    # the re-run's small shards were merged into one when its encode finished
    assert len(list(folder.glob("shard-*.keys.npy"))) == len(first.answered) + 1


def test_the_api_key_never_reaches_a_file_log_or_message(small_root, minilm_table, tmp_path, monkeypatch,
                                                         capfd, caplog):
    from harness.cli import main
    key = f"sk-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("HARNESS_TEST_API_KEY", key)
    auth = "key_env=HARNESS_TEST_API_KEY&backoff=0.001&max_retries=1&concurrency=1"
    with EmbeddingServer(minilm_table, key=key) as good, EmbeddingServer(minilm_table, key=key) as echoing, \
            EmbeddingServer(minilm_table, key="another-key") as refusing:
        echoing.always = "echo-key"   # a 500 whose message repeats the Authorization header
        models = [f"http:good@{good.url}#version=1&{auth}", f"http:echo@{echoing.url}#version=1&{auth}",
                  f"http:refused@{refusing.url}#version=1&{auth}"]   # a 401 that repeats the key it got
        code = main(["run", "--tasks", "STSBenchmark", "--models", ",".join(models), "--data-root", str(small_root),
                     "--results", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    out, err = capfd.readouterr()
    assert code == 2   # a refused request (401) is bad input; a 500 after every retry alone would give 1
    assert good.requests and echoing.requests == 2 and refusing.requests == 1
    results = {p.parent.name.split("@")[0]: json.loads(p.read_text()) for p in (tmp_path / "results").rglob("*.json")}
    assert results["http_good"]["status"] == "ok" and results["http_good"]["model_usage"]["requests"] == good.requests
    assert "internal error for key Bearer ***" in results["http_echo"]["error"] and results["http_echo"]["traceback"]
    assert "HTTP 401: Incorrect API key provided: Bearer ***" in results["http_refused"]["error"]
    assert "Bearer ***" in err + caplog.text   # the retry warnings were logged, redacted
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert sum(p.suffix == ".npy" for p in written) >= 2 and sum(p.suffix == ".json" for p in written) == 3
    leaks = [str(p) for p in written if key.encode() in p.read_bytes()]
    leaks += [where for where, text in (("stdout", out), ("stderr", err), ("log", caplog.text)) if key in text]
    assert not leaks


def test_names_settings_and_their_errors(monkeypatch):
    spec = parse_spec("BAAI/bge-small@http://localhost:8080/v1/#version=tei%201.5&batch_size=8&query_prefix=q%3A+")
    assert spec == {"model": "BAAI/bge-small", "base_url": "http://localhost:8080/v1/", "version": "tei 1.5",
                    "batch_size": 8, "query_prefix": "q: "}
    model = from_spec("m@https://x.example/openai/deployments/d?api-version=2024-02-01#version=1")
    assert model.url == "https://x.example/openai/deployments/d/embeddings?api-version=2024-02-01"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    openai = openai_from_spec("text-embedding-3-small#version=2024-01-25&dimensions=256")
    assert (openai.url, openai.key_env, openai.meta["dim"]) == ("https://api.openai.com/v1/embeddings",
                                                                "OPENAI_API_KEY", 256)
    assert "sk-from-env" not in repr(vars(openai))   # no attribute holds the key
    monkeypatch.delenv("OPENAI_API_KEY")
    bad = {"m@http://h/v1": "a version is required",
           "m@http://h/v1#version=1&batch_sise=3": "unknown setting 'batch_sise'; valid: version, key_env",
           "m@http://h/v1#version=1&batch_size=0": "batch_size must be an integer >= 1, got 0",
           "m@http://h/v1#version=1&timeout=abc": "setting timeout must be float, got 'abc'",
           "m@http://h/v1#version=1&version=2": "setting 'version' given twice",
           "m@ftp://h/v1#version=1": "must be an http:// or https:// URL",
           "m@http://user:hunter2@h/v1#version=1": "base_url holds credentials",
           "m@http://h/v1?api_key=hunter2#version=1": "query holds a key-like parameter",
           "m@http://h/v1#version=1&api_key=hunter2": "unknown setting 'api_key' (an API key goes in an environment",
           "m@http://h/v1#version=1&key_env=hunter2": "variable named by key_env that holds the API key is not set",
           "m#version=1": "expected http:<model>@<base_url>#version=<V>"}
    for name, message in bad.items():
        with pytest.raises(HarnessError, match=None) as err:
            from_spec(name)
        assert message in str(err.value) and "hunter2" not in str(err.value), (name, str(err.value))
    with pytest.raises(HarnessError, match="environment variable 'OPENAI_API_KEY' that holds the API key is not set"):
        openai_from_spec("text-embedding-3-small#version=1")


def test_prefixes_dimensions_and_base64(tmp_path):
    with EmbeddingServer(trigram_vectors) as server:
        model = HttpEmbeddingModel("toy", server.url, version="1", query_prefix="query: ", document_prefix="passage: ",
                                   dimensions=16, encoding_format="base64", batch_size=4, backoff=0.001)
        assert model.meta["prompts"] == {"query": "query: ", "document": "passage: "} and model.meta["dim"] == 16
        cached = CachedModel(model, EmbeddingCache(tmp_path), progress=False)
        q = cached.encode(TEXTS[:3], role="query")
        d = cached.encode(TEXTS[:3], role="document")
        plain = cached.encode(TEXTS[:3])
        again = cached.encode(TEXTS[:3], role="query")   # from the query role's cache
    sent = [t for p in server.payloads for t in p["input"]]
    assert sorted(sent) == sorted([f"query: {t}" for t in TEXTS[:3]] + [f"passage: {t}" for t in TEXTS[:3]] + TEXTS[:3])
    assert all(p["dimensions"] == 16 and p["encoding_format"] == "base64" for p in server.payloads)
    np.testing.assert_array_equal(q, trigram_vectors([f"query: {t}" for t in TEXTS[:3]])[:, :16])
    np.testing.assert_array_equal(d, trigram_vectors([f"passage: {t}" for t in TEXTS[:3]])[:, :16])
    np.testing.assert_array_equal(plain, trigram_vectors(TEXTS[:3])[:, :16])
    assert np.array_equal(again, q) and server.requests == 3


def test_result_schema_reads_model_usage():
    from harness.result_schema import problems
    base = {"task": "T", "model": "m", "status": "error", "main_score": None, "scores": {}}
    usage = {"requests": 3, "retries": 1, "failed_requests": 1, "failed_batches": 0, "texts": 8, "prompt_tokens": None,
             "total_tokens": 12, "latency_s": {"p50": 0.1, "p95": None}, "wait_s": 0.5, "endpoint": "http://h/v1"}
    assert problems(base) == [] and problems({**base, "model_usage": usage}) == []
    assert problems({**base, "model_usage": {**usage, "requests": "3"}}) == [
        "field 'model_usage.requests': not an integer (got '3')"]
