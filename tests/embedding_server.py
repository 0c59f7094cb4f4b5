"""A real OpenAI-compatible `POST /v1/embeddings` server on 127.0.0.1 for tests (http.server in a thread).

`vectors(texts) -> (n, d) array` gives the answer; `faults` (one popped per request) or `always`
(every request) make it misbehave: "429", "500", "slow", "dim", "json", "count", "nan", "index",
"echo-key" (a 500 whose message repeats the key it got); "ok" answers normally. `die_after=k`: after k
answered requests the server stops as a killed one does (the connection closed unanswered, then the port
closed). It records every request and the texts of each answered one, and checks `Authorization: Bearer
<key>` when given one.
"""
from __future__ import annotations

import base64
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


class EmbeddingServer:
    def __init__(self, vectors, *, key: str | None = None, port: int = 0, shuffle: bool = False,
                 retry_after: str = "1", slow_s: float = 1.0, die_after: int | None = None):
        self.vectors, self.key, self.shuffle = vectors, key, shuffle
        self.retry_after, self.slow_s, self.die_after = retry_after, slow_s, die_after
        self.faults: list[str] = []
        self.always: str | None = None
        self.requests = 0
        self.answered: list[list[str]] = []   # the input of every request answered with vectors
        self.shuffled = 0                     # answers whose items were not in index order
        self.payloads: list[dict] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def texts_answered(self) -> list[str]:
        return [t for batch in self.answered for t in batch]


def _handler(server: EmbeddingServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:   # quiet
            pass

        def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
            try:
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", "Content-Length": str(len(body)),
                             **(headers or {})}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):   # the client gave up (timeout)
                pass

        def _error(self, status: int, message: str, headers: dict | None = None) -> None:
            self._send(status, json.dumps({"error": {"message": message}}).encode(), headers)

        def do_POST(self) -> None:
            payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            with server.lock:
                server.requests += 1
                server.payloads.append(payload)
                fault = server.faults.pop(0) if server.faults else server.always
                fault = None if fault == "ok" else fault
                dead = server.die_after is not None and len(server.answered) >= server.die_after
            if dead:   # killed: no answer, then the port closes
                self.close_connection = True
                self.connection.close()
                threading.Thread(target=server.stop, daemon=True).start()
                return
            if self.path != "/v1/embeddings":
                return self._error(404, f"no route {self.path}")
            auth = self.headers.get("Authorization")
            if server.key is not None and auth != f"Bearer {server.key}":
                return self._error(401, f"Incorrect API key provided: {auth}")
            if fault == "429":
                return self._error(429, "rate limit reached", {"Retry-After": server.retry_after})
            if fault in ("500", "echo-key"):
                return self._error(500, "internal error" + (f" for key {auth}" if fault == "echo-key" else ""))
            if fault == "json":
                return self._send(200, b'{"object": "list", "data": [{"embedding": [0.1, ')
            if fault == "slow":
                time.sleep(server.slow_s)
            texts = payload["input"]
            vecs = np.asarray(server.vectors(texts), dtype=np.float32)
            if payload.get("dimensions"):
                vecs = vecs[:, :payload["dimensions"]]
            if fault == "dim":
                vecs = vecs[:, :-1]
            as_b64 = payload.get("encoding_format") == "base64"
            data = [{"object": "embedding", "index": i,
                     "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode() if as_b64 else v.tolist()}
                    for i, v in enumerate(vecs)]
            if fault == "nan":
                data[-1]["embedding"][0] = float("nan")
            if fault == "count":
                data = data[:-1]
            if fault == "index":
                data[-1]["index"] = 0
            if server.shuffle:
                random.Random(len(server.answered)).shuffle(data)
            tokens = sum(len(t.split()) for t in texts)
            body = json.dumps({"object": "list", "data": data, "model": payload["model"],
                               "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}).encode()
            self._send(200, body)
            if fault is None:
                with server.lock:
                    server.answered.append(list(texts))
                    server.shuffled += [d["index"] for d in data] != list(range(len(data)))
    return Handler
