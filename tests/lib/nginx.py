"""A real nginx on loopback, in its own prefix directory, for tests, the benchmark and the demo tooling.

`NginxProcess` runs the distribution's nginx binary with a private main configuration (pid,
logs and temp files under the prefix) and knows its master and workers. `LoopbackNginx` is
the integration tests' instance: its main configuration includes `<prefix>/conf.d/*.conf`, so
a module under test can manage a file there and validate/reload this instance with
`nginx -c <main conf>`, plus proxy sites to read traffic through. Every listener is on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import time
from pathlib import Path

from .ports import LOOPBACK, free_port, wait_for_port
from .process import alive, children_of

NGINX = os.environ.get("SWITCHYARD_TEST_NGINX", "/usr/sbin/nginx")

MAIN_CONF = """\
{top}worker_processes {worker_processes};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
{http}
}}
{after}"""

PROXY_SERVER = """\
server {{
    listen {listen};
    location / {{
        proxy_pass http://{upstream};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
{extra}    }}
}}
"""


def main_conf(prefix: Path | str, http: str = "", *, worker_processes: int = 2, worker_connections: int = 512,
              top: str = "", after: str = "") -> str:
    """The main configuration of a private nginx in prefix; `http` is the text inside `http { }`.

    `top` goes before everything (main context: load_module, include of modules-enabled) and
    `after` after the http block (a `stream { }` block, for example).
    """
    return MAIN_CONF.format(prefix=prefix, http=http.rstrip("\n"), worker_processes=worker_processes,
                            worker_connections=worker_connections, top=top, after=after)


def proxy_server(listen: str, upstream: str, extra: str = "") -> str:
    """A `server` that proxies / to `upstream` over keepalive HTTP/1.1; `extra` goes into its location."""
    return PROXY_SERVER.format(listen=listen, upstream=upstream, extra=extra)


class NginxProcess:
    """A private nginx in `prefix`, run as `nginx -p <prefix> -c <prefix>/nginx.conf`."""

    def __init__(self, prefix: Path | str, conf_text: str, binary: str = NGINX):
        self.prefix = Path(prefix)
        self.binary = binary
        self.conf_d = self.prefix / "conf.d"
        self.main_conf = self.prefix / "nginx.conf"
        self.pid_file = self.prefix / "nginx.pid"
        for folder in (self.conf_d, self.prefix / "tmp"):
            folder.mkdir(parents=True, exist_ok=True)
        self.main_conf.write_text(conf_text)

    # --- commands --------------------------------------------------------------
    def command(self, *args: str) -> list[str]:
        return [self.binary, "-p", str(self.prefix), "-c", str(self.main_conf), *args]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), capture_output=True, text=True, check=False)

    def test_config(self) -> subprocess.CompletedProcess:
        return self.run("-t")

    def reload(self) -> subprocess.CompletedProcess:
        """`nginx -s reload`: it returns once the signal is sent (see wait_for_single_generation)."""
        return self.run("-s", "reload")

    def start_listening(self, ports) -> None:
        """Start the master and wait until every one of `ports` accepts connections."""
        result = self.run()
        if result.returncode != 0:
            raise RuntimeError(f"nginx in {self.prefix} did not start: {result.stderr}")
        for port in ports:
            wait_for_port(port)

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

    # --- master and workers -------------------------------------------------------
    @property
    def master_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def worker_pids(self) -> set[int]:
        master = self.master_pid
        return children_of(master) if master is not None else set()

    def wait_for_workers(self, count: int = 2, timeout: float = 10.0) -> None:
        """The start command returns before the master has forked its workers: wait for all of them,
        so that "same worker pids" comparisons mean "no reload happened"."""
        deadline = time.monotonic() + timeout
        while len(self.worker_pids()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nginx has {len(self.worker_pids())} workers after {timeout}s, expected {count}")
            time.sleep(0.01)

    def wait_for_single_generation(self, count: int = 2, timeout: float = 15.0) -> set[int]:
        """Wait until only one worker generation is left (the old workers gone after a reload).

        A reload through `nginx -s reload` returns as soon as the signal is sent; callers that
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

    def wait_drained(self, old_workers, timeout: float = 30.0) -> bool:
        """Wait until none of `old_workers` is alive and a new generation exists; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(alive(pid) for pid in old_workers) and self.worker_pids():
                return True
            time.sleep(0.01)
        return False


class LoopbackNginx(NginxProcess):
    """The integration tests' nginx: conf.d for the module under test, proxy sites to read traffic."""

    def __init__(self, prefix: Path, include_conf_d: bool = True):
        prefix = Path(prefix)
        self.sites = prefix / "sites"
        self.sites.mkdir(parents=True, exist_ok=True)
        include = f"    include {prefix / 'conf.d'}/*.conf;\n" if include_conf_d else ""
        super().__init__(prefix, main_conf(prefix, f"{include}    include {self.sites}/*.conf;"))
        self.ports: dict[str, int] = {}

    # --- configuration -------------------------------------------------
    def add_proxy_site(self, upstream: str) -> int:
        """A server on a fresh loopback port that proxies to `upstream`; returns the port."""
        port = free_port()
        (self.sites / f"{upstream}.conf").write_text(proxy_server(
            f"{LOOPBACK}:{port}", upstream, f"        add_header X-Served-Upstream {upstream} always;\n"))
        self.ports[upstream] = port
        return port

    def module_args(self) -> dict:
        """The options that point switchyard's nginx modules at this instance.

        Its own state directory (backups, locks, reload markers) under the prefix: a test never
        writes to the system default /var/lib/switchyard/nginx.
        """
        return {"nginx_binary": self.binary, "nginx_conf": str(self.main_conf),
                "state_dir": str(self.prefix / "state")}

    # --- process control -------------------------------------------------
    def start(self) -> LoopbackNginx:
        self.start_listening(self.ports.values())
        return self

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


def wait_for_workers(nginx: NginxProcess, count: int = 2, timeout: float = 10.0) -> None:
    """Function form of NginxProcess.wait_for_workers, for the suites that import it by name."""
    nginx.wait_for_workers(count, timeout)
