"""Real HTTP servers for tests: each runs in a thread on a free local port and records what it received."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    # When it arrived (seconds since the epoch).
    at: float = 0.0


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[Received], Answer]


class Recorder:
    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.received: list[Received] = []
        self.lock = threading.Lock()

    def paths(self) -> list[str]:
        with self.lock:
            return [r.path for r in self.received]


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            got = Received(
                method=self.command,
                path=self.path,
                headers={k: v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
                at=time.time(),
            )
            with recorder.lock:
                recorder.received.append(got)
            answer = recorder.responder(got)
            if isinstance(answer.body, bytes):
                payload, kind = answer.body, "application/octet-stream"
            elif isinstance(answer.body, str):
                payload, kind = answer.body.encode(), "text/plain; charset=utf-8"
            else:
                payload, kind = json.dumps(answer.body).encode(), "application/json"
            self.send_response(answer.status)
            headers = {"Content-Type": kind, **answer.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@dataclass
class Server:
    host: str
    port: int
    recorder: Recorder

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def received(self) -> list[Received]:
        with self.recorder.lock:
            return list(self.recorder.received)


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@contextmanager
def http_server(responder: Responder | None = None, *, host: str = "127.0.0.1") -> Iterator[Server]:
    """A server answering each request with responder(request) (default: 200 and a JSON echo)."""

    def echo(got: Received) -> Answer:
        return Answer(body={"method": got.method, "path": got.path})

    recorder = Recorder(responder or echo)
    cls = _Server6 if ":" in host else ThreadingHTTPServer
    httpd = cls((host, 0), _handler(recorder))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(host=host, port=int(httpd.server_address[1]), recorder=recorder)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
