"""Real HTTP backends on loopback that stand in for the blue and green colours.

Each backend answers every path with its colour and version, in the body and in the
X-App-Color / X-App-Version headers, so a test can tell from the traffic itself which
colour served a request. Behaviour can be changed while it runs (fail a fraction of
requests, add latency) to model a bad release.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .ports import LOOPBACK


@dataclass
class BackendBehaviour:
    version: str = "1.0.0"
    # Every Nth request (counting from 1) answers 500; 0 disables.
    fail_every: int = 0
    # Status returned by /healthz and every other path when not failing.
    status: int = 200
    delay_s: float = 0.0
    extra_headers: dict = field(default_factory=dict)


class ColourBackend:
    """One colour's HTTP server on 127.0.0.1, in a thread of the test process."""

    def __init__(self, colour: str, version: str = "1.0.0", port: int = 0):
        self.colour = colour
        self.behaviour = BackendBehaviour(version=version)
        self.requests = 0
        self._lock = threading.Lock()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet test output
                pass

            def _answer(self, with_body: bool) -> None:
                with backend._lock:
                    backend.requests += 1
                    count = backend.requests
                b = backend.behaviour
                if b.delay_s:
                    threading.Event().wait(b.delay_s)
                status = b.status
                if b.fail_every and count % b.fail_every == 0:
                    status = 500
                body = json.dumps({"color": backend.colour, "version": b.version, "path": self.path}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-App-Color", backend.colour)
                self.send_header("X-App-Version", b.version)
                for key, value in b.extra_headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_GET(self):
                self._answer(True)

            def do_HEAD(self):
                self._answer(False)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self._answer(True)

        self._server = ThreadingHTTPServer((LOOPBACK, port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.address = f"{LOOPBACK}:{self.port}"
        self.url = f"http://{self.address}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"backend-{colour}", daemon=True)

    def start(self) -> ColourBackend:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ColourBackend:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@contextmanager
def blue_green(blue_version: str = "1.0.0", green_version: str = "2.0.0"):
    """Blue and green backends, started; yields {"blue": ..., "green": ...} and stops both after."""
    pair = {"blue": ColourBackend("blue", blue_version).start()}
    try:
        pair["green"] = ColourBackend("green", green_version).start()
        yield pair
    finally:
        for backend in pair.values():
            backend.stop()


def pools_of(backends: dict) -> dict:
    """The `pools` option for colour -> ColourBackend: one server per colour."""
    return {colour: [backend.address] for colour, backend in backends.items()}
