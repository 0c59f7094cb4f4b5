"""One `POST .../embeddings` request, with retries; the answer's checks; the counters a result records.

Standard library only (urllib): proxies from the environment are honoured; redirects are not followed,
so the API key is never sent to a host the user did not name. Retried: HTTP 429 and 5xx, timeouts,
refused, reset or cut-off connections; waits grow exponentially (`backoff` * 2^attempt, with jitter,
at most `max_wait`) and a `Retry-After` header (seconds or an HTTP date) is honoured and pauses every
request of the model, not only the one that got it. Anything else (4xx, an answer outside the
protocol) is not retried. Every message names the request (`RequestLabel`) and passes through the
model's `redact`, which blanks the API key wherever a server may have echoed it.
"""
from __future__ import annotations

import base64
import binascii
import email.utils
import http.client
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable

import numpy as np

from harness.errors import EmbeddingError
from harness.vectors import check_finite

log = logging.getLogger("harness.http")
HINTS = {401: "check the API key in the environment variable named by key_env",
         403: "check the API key and its access to this model", 404: "check base_url and the model name",
         413: "lower batch_size", 422: "lower batch_size, or check the model name and the settings"}


class EndpointError(EmbeddingError):
    """The endpoint refused a request (4xx) or answered outside the protocol; not retried."""


class EndpointUnavailable(RuntimeError):
    """A request still failed (429 / 5xx / timeout / connection) after every retry."""


@dataclass(frozen=True)
class RequestLabel:
    """Which request a message is about: number, the texts it carried and the URL (never a secret)."""
    number: int
    total: int
    start: int
    stop: int
    of: int
    url: str

    def __str__(self) -> str:
        return (f"request {self.number}/{self.total} (texts {self.start}-{self.stop - 1} of {self.of}) "
                f"to POST {self.url}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):   # None: urllib raises HTTPError with the 3xx code
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A `Retry-After` header as seconds from now (RFC 9110: delay-seconds or an HTTP date); None if
    absent or unreadable."""
    if not value or not value.strip():
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Usage:
    """Thread-safe counters of one model's requests: what `usage()` reports and a result records."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.counts = dict.fromkeys(("requests", "retries", "failed_requests", "failed_batches", "texts"), 0)
            self.tokens: dict[str, int | None] = {"prompt_tokens": None, "total_tokens": None}
            self.latencies: list[float] = []
            self.wait_s = 0.0

    def count(self, **increments: int) -> None:
        with self._lock:
            for k, v in increments.items():
                self.counts[k] += v

    def answered(self, latency_s: float, texts: int, usage) -> None:
        with self._lock:
            self.latencies.append(latency_s)
            self.counts["texts"] += texts
            for k in self.tokens:
                value = usage.get(k) if isinstance(usage, dict) else None
                if isinstance(value, int) and not isinstance(value, bool):
                    self.tokens[k] = (self.tokens[k] or 0) + value

    def waited(self, seconds: float) -> None:
        with self._lock:
            self.wait_s += seconds

    def snapshot(self) -> dict:
        with self._lock:
            lat = np.asarray(self.latencies, dtype=np.float64)
            latency = {f"p{q}": float(np.percentile(lat, q)) for q in (50, 95, 99)} if len(lat) else \
                dict.fromkeys(("p50", "p95", "p99"))
            latency.update(mean=float(lat.mean()) if len(lat) else None, max=float(lat.max()) if len(lat) else None)
            return {**self.counts, **self.tokens, "latency_s": latency, "wait_s": self.wait_s}


class Transport:
    """Posts JSON bodies to one URL with the retry policy above; counts into `usage`."""

    def __init__(self, url: str, auth: Callable[[], dict], *, timeout: float, max_retries: int, backoff: float,
                 max_wait: float, usage: Usage, redact: Callable[[str], str]):
        self.url, self._auth = url, auth   # auth() -> the key's header, read when sent: no object holds the key
        self.timeout, self.max_retries, self.backoff, self.max_wait = timeout, max_retries, backoff, max_wait
        self.usage, self.redact = usage, redact
        self._pause_lock = threading.Lock()
        self._pause_until = 0.0   # a Retry-After holds back every request of this model, not only one

    def post(self, body: bytes, label: RequestLabel) -> tuple[bytes, float]:
        """The body of a 2xx answer and the seconds it took; raises EndpointError / EndpointUnavailable."""
        for attempt in range(self.max_retries + 1):
            self._wait_for_pause()
            self.usage.count(requests=1, retries=1 if attempt else 0)
            retry_after, t0 = None, time.perf_counter()
            try:
                request = urllib.request.Request(self.url, data=body, method="POST",
                                                 headers={"Content-Type": "application/json", **self._auth()})
                with _OPENER.open(request, timeout=self.timeout) as response:
                    return response.read(), time.perf_counter() - t0
            except urllib.error.HTTPError as e:
                reason = f"HTTP {e.code}: {_error_detail(e)}"
                if not (e.code == 429 or 500 <= e.code < 600):
                    self.usage.count(failed_requests=1, failed_batches=1)
                    hint = HINTS.get(e.code) or ("redirects are not followed (the API key would go along): give "
                                                 "the final address as base_url" if 300 <= e.code < 400 else "")
                    raise EndpointError(self.redact(f"{label}: {reason}" + (f" ({hint})" if hint else ""))) from None
                retry_after = retry_after_seconds(e.headers.get("Retry-After") if e.headers else None)
            except (OSError, http.client.HTTPException) as e:   # timeouts, refused / reset / cut-off connections
                reason = _describe(e, self.timeout)
            self.usage.count(failed_requests=1)
            if attempt == self.max_retries:
                self.usage.count(failed_batches=1)
                raise EndpointUnavailable(self.redact(f"{label}: {reason}; gave up after {attempt + 1} attempt(s) "
                                                      f"(max_retries={self.max_retries})")) from None
            delay = min(self.max_wait, max(retry_after or 0.0, self.backoff * 2 ** attempt * random.uniform(0.5, 1)))
            if retry_after is not None:
                self._pause_all(delay)
            log.warning(self.redact(f"{label}: {reason}; retry {attempt + 1}/{self.max_retries} in {delay:.2f} s"))
            self.usage.waited(delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _pause_all(self, seconds: float) -> None:
        with self._pause_lock:
            self._pause_until = max(self._pause_until, time.monotonic() + seconds)

    def _wait_for_pause(self) -> None:
        with self._pause_lock:
            left = self._pause_until - time.monotonic()
        if left > 0:
            time.sleep(left)


def _describe(e: BaseException, timeout: float) -> str:
    reason = getattr(e, "reason", None)   # URLError wraps the socket's error
    if isinstance(e, TimeoutError) or isinstance(reason, TimeoutError):
        return f"no answer within timeout={timeout:g} s"
    if isinstance(e, urllib.error.URLError):
        return f"connection failed ({reason})"
    return f"connection failed ({type(e).__name__}: {e})"


def _error_detail(e: urllib.error.HTTPError) -> str:
    """The server's own message (`error.message`, `error`, `message`), else the body's start, plus its request id."""
    try:
        raw = e.read()
    except (OSError, http.client.HTTPException):
        raw = b""
    text = raw.decode("utf-8", "replace").strip()
    try:
        obj = json.loads(text)
        err = obj.get("error", obj.get("message")) if isinstance(obj, dict) else None
        text = str(err.get("message", err) if isinstance(err, dict) else err) if err is not None else text
    except ValueError:
        pass
    rid = e.headers.get("x-request-id") if e.headers else None
    return (_snippet(text) or e.reason or "no message") + (f" (request id {rid})" if rid else "")


def _snippet(text: str, n: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "..."


def parse_embeddings(raw: bytes, n: int, dim: int | None, label: RequestLabel,
                     redact: Callable[[str], str]) -> tuple[np.ndarray, dict | None]:
    """(n, d) float32 rows of an answer, placed by each item's `index` (list order when no item has one),
    and its `usage` object. `dim`: the dimension every row must have (None: any, but one for all).
    Anything outside the protocol is an EndpointError naming the request and what is wrong."""
    def fail(what: str):
        raise EndpointError(redact(f"{label}: {what}")) from None

    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        fail(f"the answer is not JSON ({e}); it starts {_snippet(raw[:200].decode('utf-8', 'replace'), 120)!r}")
    data = obj.get("data") if isinstance(obj, dict) else None
    if not isinstance(data, list):
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        fail(f"the answer has no 'data' list (it has: {keys})")
    if len(data) != n:
        fail(f"{len(data)} embeddings in the answer for {n} texts sent")
    if not all(isinstance(item, dict) for item in data):
        fail("an item of 'data' is not an object")
    indexes = [item.get("index") for item in data]
    if all(i is None for i in indexes):
        indexes = list(range(n))
    elif not all(isinstance(i, int) and not isinstance(i, bool) for i in indexes) or sorted(indexes) != list(range(n)):
        fail(f"the items' 'index' fields are not 0..{n - 1} once each (got {_snippet(str(indexes), 80)})")
    rows: list = [None] * n
    for item, i in zip(data, indexes):
        rows[i] = _vector(item.get("embedding"), i, fail)
    dims = sorted({len(r) for r in rows})
    if dim is not None and dims != [dim]:
        bad = next(i for i, r in enumerate(rows) if len(r) != dim)
        fail(f"embedding {bad} has dimension {len(rows[bad])}, expected {dim}")
    if len(dims) > 1:
        fail(f"embeddings of different dimensions {dims} in one answer")
    vectors = np.stack(rows) if n else np.zeros((0, dim or 0), dtype=np.float32)
    try:
        check_finite(vectors, "the answer's embeddings")
    except EmbeddingError as e:
        fail(str(e))
    return vectors, obj.get("usage")


def _vector(value, i: int, fail) -> np.ndarray:
    """One embedding: a list of numbers, or base64 of little-endian float32 (encoding_format=base64)."""
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            fail(f"embedding {i} is a string but not base64")
        if len(raw) % 4:
            fail(f"embedding {i} decodes to {len(raw)} bytes, not a whole number of float32 values")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if not isinstance(value, list) or not value:
        fail(f"embedding {i} is not a non-empty list of numbers (got {type(value).__name__})")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        fail(f"embedding {i} holds a value that is not a number")
    return np.asarray(value, dtype=np.float32)
