"""Embedding APIs speaking OpenAI's protocol, `POST {base_url}/embeddings` (OpenAI, vLLM,
text-embeddings-inference, Ollama, LiteLLM, Azure OpenAI, ...), as a model.

Names (`--models`; `run.py list models`):

    http:<model>@<base_url>#version=<V>[&setting=value...]     any OpenAI-compatible server
    openai:<model>[@<base_url>]#version=<V>[&setting=value...]  base_url https://api.openai.com/v1,
                                                                key_env OPENAI_API_KEY

e.g. `http:BAAI/bge-small-en-v1.5@http://localhost:8080/v1#version=tei-1.5&batch_size=32` or
`openai:text-embedding-3-small#version=2024-01-25&dimensions=512`. Settings follow `#` as
`name=value` pairs joined by `&`, URL-encoded (a space is `%20` or `+`, `&` is `%26`, a comma `%2C`):

    version          REQUIRED. Your name for what produces the vectors now (the provider's model
                     snapshot, the server image and model revision). A hosted model has no weights to
                     hash: this string is the embedding cache's revision, so change it when the vectors change.
    key_env          NAME of the environment variable holding the API key (sent as `Authorization:
                     Bearer <key>`). The key itself is never in a name, result, cache file, log or error.
    key_header       send the key in this header instead, as is (Azure OpenAI: api-key)
    batch_size       texts per request (default 32, text-embeddings-inference's default limit)
    concurrency      requests in flight at once (default 4)
    timeout          seconds to wait for an answer (default 60)
    max_retries      retries of a request on HTTP 429 / 5xx / timeout / connection error (default 5)
    backoff          first retry's wait in seconds, doubled per retry, with jitter (default 0.5)
    max_wait         longest single wait in seconds, Retry-After included (default 60)
    dimensions       ask for vectors of this size (OpenAI text-embedding-3); every answer is checked
    encoding_format  float or base64 (sent only when given)
    query_prefix, document_prefix
                     text put before every query / document (instruction models): part of the cache
                     key, recorded in meta["prompts"]

The whole name is the model's name in results (its folder and job key), so it must never hold a secret:
credentials in the URL or a key-like setting are refused. Every request's vectors reach the embedding
cache as it finishes (`encode_stream`), so a run stopped mid-way resends only unfinished requests.
`usage()` counts requests, retries, failures, tokens and latency percentiles; the runner writes them
into the result's `model_usage` block. Python API: `HttpEmbeddingModel(model, base_url, version=...)`,
for a plugin that registers a short name (docs/extending.md).
"""
from __future__ import annotations

import itertools
import json
import math
import os
import re
import threading
import urllib.parse
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import numpy as np

from harness.errors import HarnessError

from .base import make_meta
from .http_transport import EndpointError, RequestLabel, Transport, Usage, parse_embeddings

OPENAI_URL = "https://api.openai.com/v1"
SETTINGS = {"version": str, "key_env": str, "key_header": str, "batch_size": int, "concurrency": int,
            "timeout": float, "max_retries": int, "backoff": float, "max_wait": float, "dimensions": int,
            "encoding_format": str, "query_prefix": str, "document_prefix": str}
SECRET_PARTS = {"key", "apikey", "token", "secret", "password", "passwd", "pwd", "auth", "authorization", "sig",
                "signature", "credential", "credentials", "code"}   # code: Azure Functions' ?code=
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class HttpEmbeddingModel:
    def __init__(self, model: str, base_url: str, *, version: str, key_env: str | None = None,
                 key_header: str = "Authorization", batch_size: int = 32, concurrency: int = 4, timeout: float = 60.0,
                 max_retries: int = 5, backoff: float = 0.5, max_wait: float = 60.0, dimensions: int | None = None,
                 encoding_format: str | None = None, query_prefix: str | None = None,
                 document_prefix: str | None = None):
        where = f"model {model!r}"
        if not isinstance(version, str) or not version.strip():
            raise HarnessError(f"{where}: a version is required (#version=...): a hosted model has no weights to "
                               "hash, so this string keys the embedding cache; change it when the vectors change")
        self.model, self.url = model, endpoint_url(base_url, where)
        _check_numbers(where, batch_size=(batch_size, 1, True), concurrency=(concurrency, 1, True),
                       max_retries=(max_retries, 0, True), dimensions=(dimensions, 1, True),
                       timeout=(timeout, 0, False), backoff=(backoff, 0, False), max_wait=(max_wait, 0, False))
        if encoding_format not in (None, "float", "base64"):
            raise HarnessError(f"{where}: encoding_format must be float or base64, got {encoding_format!r}")
        self.key_env, self.key_header = key_env, key_header
        if key_env is not None:
            self._key(where)   # fail now, at planning, not at the first request
        self.batch_size, self.concurrency = batch_size, concurrency
        self._extra = {k: v for k, v in (("dimensions", dimensions), ("encoding_format", encoding_format)) if v}
        prompts = {r: p for r, p in (("query", query_prefix), ("document", document_prefix)) if p}
        self.meta = make_meta(model, revision=version, dim=dimensions, prompts=prompts, kind="http",
                              batching="server", endpoint=self.url, encoding_format=encoding_format or "float")
        self._usage = Usage()
        self._transport = Transport(self.url, self._auth, timeout=timeout, max_retries=max_retries,
                                    backoff=backoff, max_wait=max_wait, usage=self._usage, redact=self.redact)
        self._dim_lock, self._dim = threading.Lock(), dimensions

    def __repr__(self) -> str:
        return f"HttpEmbeddingModel({self.model!r} at {self.url})"

    # -- the key: read from the environment when needed, held by no object -------------------------
    def _key(self, where: str | None = None) -> str | None:
        if self.key_env is None:
            return None
        key = os.environ.get(self.key_env, "") if ENV_NAME.fullmatch(self.key_env) else ""
        if not key:
            # echo the name only when it looks like one (never a key pasted in its place)
            named = repr(self.key_env) if re.fullmatch(r"[A-Z_][A-Z0-9_]{0,63}", self.key_env) else "named by key_env"
            raise HarnessError(f"{where or f'model {self.model!r}'}: the environment variable {named} that holds "
                               "the API key is not set (key_env is the NAME of a variable, not the key)")
        return key

    def _auth(self) -> dict:
        key = self._key()
        if key is None:
            return {}
        return {self.key_header: f"Bearer {key}" if self.key_header.lower() == "authorization" else key}

    def redact(self, text: str) -> str:
        """`text` with the API key blanked (a server may echo it in an error)."""
        key = os.environ.get(self.key_env or "", "") if self.key_env and ENV_NAME.fullmatch(self.key_env) else ""
        return text.replace(key, "***") if len(key) >= 4 else text

    # -- encoding -----------------------------------------------------------------------------------
    def encode(self, texts, *, role: str | None = None, batch_size: int | None = None) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((0, self.meta["dim"] or 0), dtype=np.float32) if not texts else None
        for rows, vectors in self.encode_stream(texts, role=role, batch_size=batch_size):
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return out

    def encode_stream(self, texts, *, role: str | None = None, batch_size: int | None = None):
        """Yield (positions, vectors) per request as each finishes, `concurrency` requests in flight.
        After a failure no new request starts; those in flight are still yielded, then the error is raised."""
        texts = list(texts)
        prefix = (self.meta["prompts"] or {}).get(role) if role else None
        step = batch_size or self.batch_size
        spans = [(s, min(s + step, len(texts))) for s in range(0, len(texts), step)]
        todo = iter(RequestLabel(i + 1, len(spans), s, e, len(texts), self.url) for i, (s, e) in enumerate(spans))
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="http-embeddings")
        running, error = {}, None

        def fill():
            for label in itertools.islice(todo, self.concurrency - len(running)):
                batch = texts[label.start:label.stop]
                running[pool.submit(self._request, [prefix + t for t in batch] if prefix else batch, label)] = label
        try:
            fill()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    label = running.pop(future)
                    try:
                        vectors = future.result()
                    except Exception as e:   # the first failure is raised once the others in flight are in
                        error = error or e
                        continue
                    yield np.arange(label.start, label.stop), vectors
                if error is None:
                    fill()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if error is not None:
            raise error

    def _request(self, texts: list[str], label: RequestLabel) -> np.ndarray:
        body = json.dumps({"model": self.model, "input": texts, **self._extra}).encode("utf-8")
        raw, seconds = self._transport.post(body, label)
        try:
            vectors, usage = parse_embeddings(raw, len(texts), self._dim, label, self.redact)
            with self._dim_lock:   # every answer of this model has the dimension of the first (or the declared)
                if self._dim is None:
                    self._dim = vectors.shape[1]
                elif vectors.shape[1] != self._dim:
                    raise EndpointError(f"{label}: dimension {vectors.shape[1]}, but earlier answers had {self._dim}")
        except EndpointError:
            self._usage.count(failed_requests=1, failed_batches=1)
            raise
        self._usage.answered(seconds, len(texts), usage)
        return vectors

    # -- what a result records ----------------------------------------------------------------------
    def usage(self) -> dict:
        """Requests (retries included), retries, failed requests, batches given up, texts, tokens where the
        server reports them (None otherwise), latency percentiles of answered requests, seconds waited."""
        return {**self._usage.snapshot(), "endpoint": self.url, "batch_size": self.batch_size,
                "concurrency": self.concurrency}

    def reset_usage(self) -> None:
        self._usage.reset()


def endpoint_url(base_url: str, where: str) -> str:
    """`{base_url}/embeddings` (a URL already ending in /embeddings is kept); a URL that could carry a
    secret into result names is refused without being repeated."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.username is not None or parts.password is not None:
        raise HarnessError(f"{where}: base_url holds credentials (user:password@host); give the API key through "
                           "an environment variable named by key_env instead")
    if any(_secret_like(name) for name, _ in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)):
        raise HarnessError(f"{where}: base_url's query holds a key-like parameter; give the API key through an "
                           "environment variable named by key_env instead (key_header names its header)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HarnessError(f"{where}: base_url must be an http:// or https:// URL, got {base_url!r}")
    path = parts.path.rstrip("/")
    path = path if path.endswith("/embeddings") else path + "/embeddings"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _secret_like(name: str) -> bool:
    """A parameter name that may carry a secret: api_key, X-Api-Key, access_token, sig, ..."""
    return any(part in SECRET_PARTS for part in re.split(r"[-_.\s]+", name.lower()))


def _check_numbers(where: str, **values) -> None:
    """Each value (value, low, integer?) must be a finite number >= low (> 0 when low is 0.0 and it is a timeout)."""
    for name, (value, low, integer) in values.items():
        if value is None and name == "dimensions":
            continue
        kind = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) or value < low \
                or (name == "timeout" and value <= 0):
            bound = "> 0" if name == "timeout" else f">= {low}"
            raise HarnessError(f"{where}: {name} must be {'an integer' if integer else 'a number'} {bound}, "
                               f"got {value!r}")


def parse_spec(spec: str, prefix: str = "http") -> dict:
    """The keyword arguments of `HttpEmbeddingModel` from `<model>@<base_url>#settings` (the text after
    `http:` or `openai:`). Errors never repeat a URL with credentials or a key-like setting."""
    head, _, fragment = spec.partition("#")
    found = re.fullmatch(r"(.+?)@(\w+://.*)", head)
    if found:
        model, base_url = found.groups()
    elif prefix == "openai":
        model, base_url = head, OPENAI_URL
    else:
        raise HarnessError(f"model {prefix}:{head!r}: expected {prefix}:<model>@<base_url>#version=<V>"
                           "[&setting=value...], e.g. http:bge-small@http://localhost:8080/v1#version=1")
    where = f"model {f'{prefix}:{model}'!r}"
    if not model.strip():
        raise HarnessError(f"{where}: the model name before '@' is empty")
    endpoint_url(base_url, where)   # credentials in the URL are refused before any message repeats it
    try:
        pairs = urllib.parse.parse_qsl(fragment, keep_blank_values=True, strict_parsing=bool(fragment))
    except ValueError:
        raise HarnessError(f"{where}: the settings after '#' must be name=value pairs joined by '&'") from None
    settings = {"key_env": "OPENAI_API_KEY"} if prefix == "openai" else {}
    seen = set()
    for name, value in pairs:
        if name not in SETTINGS:
            secret = " (an API key goes in an environment variable: key_env=NAME)" if _secret_like(name) else ""
            raise HarnessError(f"{where}: unknown setting {name!r}{secret}; valid: {', '.join(SETTINGS)}")
        if name in seen:
            raise HarnessError(f"{where}: setting {name!r} given twice")
        seen.add(name)
        try:
            settings[name] = SETTINGS[name](value)
        except ValueError:
            raise HarnessError(f"{where}: setting {name} must be {SETTINGS[name].__name__}, got {value!r}") from None
    if "version" not in settings:
        raise HarnessError(f"{where}: a version is required, e.g. {prefix}:{head}#version=2024-01-25 (a hosted "
                           "model has no weights to hash: this string keys the embedding cache)")
    return {"model": model, "base_url": base_url, **settings}


def from_spec(spec: str) -> HttpEmbeddingModel:
    """Registry factory of `http:<model>@<base_url>#version=...`."""
    return HttpEmbeddingModel(**parse_spec(spec, "http"))


def openai_from_spec(spec: str) -> HttpEmbeddingModel:
    """Registry factory of `openai:<model>#version=...` (OpenAI's URL and OPENAI_API_KEY unless given)."""
    return HttpEmbeddingModel(**parse_spec(spec, "openai"))
