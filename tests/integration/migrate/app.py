# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sample application's releases, as loopback HTTP servers that read a real PostgreSQL.

Each release reads the columns it knows (QUERIES) on every request, / and /healthz alike, and
answers 500 with the database error when its query fails: a release whose columns were dropped
by a migration fails its smoke test, as a real one would.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

from tests.lib.ports import LOOPBACK

QUERIES = {
    "1.0.0": "SELECT id, legacy_ref FROM orders ORDER BY id",
    "2.0.0": "SELECT id, legacy_ref, customer_ref FROM orders ORDER BY id",
    "2.0.1": "SELECT id, customer_ref FROM orders ORDER BY id",
}


class ReleaseServer:
    """One colour running one release of the sample app on 127.0.0.1."""

    def __init__(self, colour: str, version: str, dsn: str):
        self.colour, self.version, self.dsn = colour, version, dsn
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet test output
                pass

            def do_GET(self):
                try:
                    with psycopg.connect(app.dsn, connect_timeout=5) as conn:
                        rows = conn.execute(QUERIES[app.version]).fetchall()
                    status, body = 200, {"color": app.colour, "version": app.version, "orders": len(rows)}
                except psycopg.Error as exc:
                    status, body = 500, {"color": app.colour, "version": app.version, "error": str(exc).strip()}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-App-Color", app.colour)
                self.send_header("X-App-Version", app.version)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> ReleaseServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
