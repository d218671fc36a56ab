# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The demo application: one colour of a blue-green pair.

Standard library only. Every answer carries the colour and the release version, in
the JSON body and in the X-App-Color / X-App-Version headers, so a client (or a
load balancer's verification step) can tell from the traffic which side served it.

Settings come from the environment (the systemd unit's EnvironmentFile):
APP_NAME, APP_COLOR, APP_PORT, APP_BIND (default 0.0.0.0), APP_VERSION (default:
the VERSION file next to this script).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent


def release_version() -> str:
    version = os.environ.get("APP_VERSION", "").strip()
    if version:
        return version
    try:
        return (HERE / "VERSION").read_text(encoding="utf-8").strip()
    except OSError:
        return "unknown"


NAME = os.environ.get("APP_NAME", "demo")
COLOR = os.environ.get("APP_COLOR", "unknown")
VERSION = release_version()
STARTED = time.time()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keepalive, as nginx's upstream keepalive expects
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the
    # peer's delayed ACK hold the body back about 40 ms on a kept-alive connection.
    disable_nagle_algorithm = True
    server_version = f"{NAME}/{VERSION}"

    def log_message(self, *args):  # the journal would fill with one line per request
        pass

    def _answer(self, with_body: bool) -> None:
        if self.path.split("?", 1)[0] == "/healthz":
            payload = {"status": "ok", "color": COLOR, "version": VERSION}
        else:
            payload = {
                "app": NAME,
                "color": COLOR,
                "version": VERSION,
                "host": socket.gethostname(),
                "path": self.path,
                "uptime_s": round(time.time() - STARTED, 1),
            }
        body = (json.dumps(payload) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-App-Color", COLOR)
        self.send_header("X-App-Version", VERSION)
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self):
        self._answer(True)

    def do_HEAD(self):
        self._answer(False)


class Server(ThreadingHTTPServer):
    daemon_threads = False  # a stop waits for requests in flight
    block_on_close = True
    allow_reuse_address = True


def main() -> int:
    port = int(os.environ.get("APP_PORT", "8080"))
    bind = os.environ.get("APP_BIND", "0.0.0.0")  # noqa: S104 (a server for the LB to reach)
    server = Server((bind, port), Handler)

    def stop(_signum, _frame):
        # shutdown() blocks until serve_forever returns, so call it from another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"{NAME} {COLOR} {VERSION} listening on {bind}:{port}", flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
