# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""An HTTP proxy on 127.0.0.1 in front of moto_server that injects Route53 faults.

The module under test talks real HTTP to the proxy (endpoint_url). Per API operation the
test queues answers the proxy gives instead of forwarding: an AWS error (status, code,
message) such as Throttling, PriorRequestNotComplete or AccessDenied, or "pending", which
forwards the call and rewrites INSYNC to PENDING (moto is always INSYNC). Everything not
queued is forwarded unchanged. The proxy counts what it saw per operation.
"""

from __future__ import annotations

import http.client
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.lib.ports import LOOPBACK
from tests.lib.route53_double import ERRORS, error_xml, operation_of

# The AWS error answers and the operation names are the strict double's (tests/lib/route53_double.py).
FAULTS = ERRORS


class FaultProxy:
    def __init__(self, upstream_url: str):
        target = urlsplit(upstream_url)
        self.upstream = (target.hostname, target.port)
        self.queues: dict[str, deque] = {}
        self.seen: dict[str, int] = {}
        self.injected: dict[str, int] = {}
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                operation = operation_of(self.command, self.path)
                action = proxy._next(operation)
                if action is not None and action != "pending":
                    status, code, message = FAULTS[action]
                    payload = error_xml(code, message.format(operation=operation))
                    self._reply(status, {"Content-Type": "text/xml"}, payload)
                    return
                status, headers, payload = proxy._forward(self.command, self.path, self.headers, body)
                if action == "pending" or (operation == "ChangeResourceRecordSets" and proxy.submit_pending):
                    payload = payload.replace(b"<Status>INSYNC</Status>", b"<Status>PENDING</Status>")
                self._reply(status, headers, payload)

            def _reply(self, status, headers, payload):
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PUT = _handle  # noqa: N815 (http.server naming)

        self.submit_pending = False
        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="route53-fault-proxy", daemon=True)

    def inject(self, operation: str, *actions: str) -> None:
        """Queue answers for the next calls of ``operation`` (names of FAULTS, or "pending")."""
        with self.lock:
            self.queues.setdefault(operation, deque()).extend(actions)

    def _next(self, operation: str):
        with self.lock:
            self.seen[operation] = self.seen.get(operation, 0) + 1
            queue = self.queues.get(operation)
            if queue:
                action = queue.popleft()
                self.injected[operation] = self.injected.get(operation, 0) + 1
                return action
        return None

    def _forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            forward = {k: v for k, v in headers.items() if k.lower() not in ("connection", "content-length")}
            conn.request(method, path, body=body or None, headers=forward)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
