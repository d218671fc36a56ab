"""A real nginx on loopback, in its own prefix directory, for integration tests.

It runs the distribution's nginx binary with a private main configuration that
includes `<prefix>/conf.d/*.conf`, so a module under test can manage a file there
and validate/reload this instance with `nginx -c <main conf>`. Every listener is
on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import time
from pathlib import Path

from .ports import LOOPBACK, free_port, wait_for_port

NGINX = os.environ.get("SWITCHYARD_TEST_NGINX", "/usr/sbin/nginx")

MAIN_CONF = """\
worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
{include}
    include {prefix}/sites/*.conf;
}}
"""

PROXY_SITE = """\
server {{
    listen {listen};
    location / {{
        proxy_pass http://{upstream};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        add_header X-Served-Upstream {upstream} always;
    }}
}}
"""


class LoopbackNginx:
    """Start/stop/reload a private nginx; read traffic through it."""

    def __init__(self, prefix: Path, include_conf_d: bool = True):
        self.prefix = Path(prefix)
        self.conf_d = self.prefix / "conf.d"
        self.sites = self.prefix / "sites"
        self.main_conf = self.prefix / "nginx.conf"
        self.pid_file = self.prefix / "nginx.pid"
        for folder in (self.conf_d, self.sites, self.prefix / "tmp"):
            folder.mkdir(parents=True, exist_ok=True)
        include = f"    include {self.conf_d}/*.conf;" if include_conf_d else ""
        self.main_conf.write_text(MAIN_CONF.format(prefix=self.prefix, include=include))
        self.ports: dict[str, int] = {}

    # --- configuration -------------------------------------------------
    def add_proxy_site(self, upstream: str) -> int:
        """A server on a fresh loopback port that proxies to `upstream`; returns the port."""
        port = free_port()
        (self.sites / f"{upstream}.conf").write_text(
            PROXY_SITE.format(listen=f"{LOOPBACK}:{port}", upstream=upstream)
        )
        self.ports[upstream] = port
        return port

    def module_args(self) -> dict:
        """The options that point switchyard's nginx modules at this instance."""
        return {"nginx_binary": NGINX, "nginx_conf": str(self.main_conf)}

    # --- process control -------------------------------------------------
    def _cmd(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [NGINX, "-p", str(self.prefix), "-c", str(self.main_conf), *args],
            capture_output=True, text=True, check=False,
        )

    def test_config(self) -> subprocess.CompletedProcess:
        return self._cmd("-t")

    def start(self) -> LoopbackNginx:
        result = self._cmd()
        if result.returncode != 0:
            raise RuntimeError(f"nginx did not start: {result.stderr}")
        for port in self.ports.values():
            wait_for_port(port)
        return self

    @property
    def master_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def worker_pids(self) -> set[int]:
        master = self.master_pid
        if master is None:
            return set()
        children = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            # Field 4 (after the parenthesised command) is the parent pid.
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == master:
                children.add(int(entry))
        return children

    def wait_for_single_generation(self, count: int = 2, timeout: float = 15.0) -> set[int]:
        """Wait until only one worker generation is left (the old workers gone after a reload).

        A reload through `nginx -s reload` returns as soon as the signal is sent; tests that
        read traffic right after one wait here for nginx to finish it.
        """
        deadline = time.monotonic() + timeout
        while True:
            workers = self.worker_pids()
            if len(workers) == count or time.monotonic() > deadline:
                return workers
            time.sleep(0.01)

    def wait_until_settled(self, count: int = 2, quiet: float = 0.2, timeout: float = 15.0) -> set[int]:
        """Like wait_for_single_generation, when it is not known whether a reload was just signalled:
        the same `count` workers for `quiet` seconds (the master acts on a signal within milliseconds)."""
        deadline = time.monotonic() + timeout
        while True:
            first = self.wait_for_single_generation(count, max(0.0, deadline - time.monotonic()))
            time.sleep(quiet)
            if self.worker_pids() == first or time.monotonic() > deadline:
                return first

    def stop(self) -> None:
        master = self.master_pid
        if master is None:
            return
        os.kill(master, signal.SIGQUIT)
        deadline = time.monotonic() + 10
        while self.master_pid is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.master_pid is not None:
            os.kill(master, signal.SIGKILL)

    # --- traffic -------------------------------------------------------------
    def get(self, upstream: str, path: str = "/", headers: dict | None = None):
        """One request on a new connection through the proxy site for `upstream`.

        Returns (status, headers as a dict, body bytes).
        """
        conn = http.client.HTTPConnection(LOOPBACK, self.ports[upstream], timeout=5)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def colour_counts(self, upstream: str, count: int = 20) -> dict[str, int]:
        """Send `count` requests and tally which colour answered (by X-App-Color)."""
        tally: dict[str, int] = {}
        for _request in range(count):
            status, headers, _body = self.get(upstream)
            key = headers.get("X-App-Color", f"status-{status}")
            tally[key] = tally.get(key, 0) + 1
        return tally
