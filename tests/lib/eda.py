"""Event-Driven Ansible for integration tests: ansible-rulebook as a subprocess, a watched nginx site, a load client.

- ``watched_site``: an nginx server block that proxies to the app's upstream and writes the
  access log the bluegreen_watch source reads (log_format switchyard_bluegreen).
- ``LoadClient``: a bounded load (fixed rate, new connection per request, stops when told) that
  records when each request was sent, its status and which colour answered.
- ``EdaLab``: all of it together around one app: backends, nginx, managed file, inventory, vars.
- ``Rulebook``: ``ansible-rulebook`` with the collection on ANSIBLE_COLLECTIONS_PATH and the
  venv's bin on PATH (it calls ansible-galaxy and ansible-playbook); its output is kept, line by
  line with the time each arrived, for assertions.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .backends import ColourBackend
from .haproxy import HAPROXY, LoopbackHaproxy
from .nginx import LoopbackNginx
from .ports import LOOPBACK, free_port

APP = "shop"
REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = Path(os.environ.get("SWITCHYARD_BUILD", REPO / "build")) / "collections"

BIN = Path(sys.executable).parent
RULEBOOK_BINARY = BIN / "ansible-rulebook"


def _collection_path():
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))


def _watch():
    """The collection's bluegreen_watch source module (its metadata reader)."""
    _collection_path()
    from ansible_collections.switchyard.bluegreen.extensions.eda.plugins.event_source import (  # noqa: PLC0415
        bluegreen_watch,
    )

    return bluegreen_watch


def _access_log():
    """module_utils/_traffic/access_log: the log format the source and traffic_stats read."""
    _collection_path()
    from ansible_collections.switchyard.bluegreen.plugins.module_utils._traffic import (  # noqa: PLC0415
        access_log,
    )

    return access_log


def rulebook_available() -> str | None:
    """Why ansible-rulebook cannot run here (None when it can)."""
    if not RULEBOOK_BINARY.exists():
        return f"{RULEBOOK_BINARY} not installed (pip package ansible-rulebook, pinned in requirements-test.txt)"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "no Java runtime (ansible-rulebook needs JDK 17+)"
    return None


def watched_site(listen: str, upstream: str, log_path: Path | str, log_format: str, format_name: str) -> str:
    """nginx http-context text: the log format and a server proxying to `upstream` that logs with it."""
    return (
        f"log_format {format_name} escape=json '{log_format}';\n"
        "server {\n"
        f"    listen {listen};\n"
        f"    access_log {log_path} {format_name};\n"
        "    location / {\n"
        f"        proxy_pass http://{upstream};\n"
        "        proxy_http_version 1.1;\n"
        '        proxy_set_header Connection "";\n'
        "    }\n"
        "}\n"
    )


class LoadClient:
    """`rate` requests per second to `url` from one thread until stop() (or `max_seconds`)."""

    def __init__(self, port: int, rate: float = 40.0, max_seconds: float = 300.0):
        self.port = port
        self.interval = 1.0 / rate
        self.max_seconds = max_seconds
        self.records: list[tuple[float, int, str]] = []  # (time.time() when sent, status or 0, colour)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-client", daemon=True)

    def _one(self) -> tuple[int, str]:
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=5)
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            response.read()
            return response.status, response.getheader("X-App-Color") or "-"
        except (OSError, http.client.HTTPException):
            return 0, "-"
        finally:
            conn.close()

    def _run(self) -> None:
        started = time.monotonic()
        next_at = started
        while not self._stop.is_set() and time.monotonic() - started < self.max_seconds:
            sent = time.time()
            status, colour = self._one()
            self.records.append((sent, status, colour))
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> LoadClient:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def bad(self, since: float = 0.0) -> list[tuple[float, int, str]]:
        """Requests sent at or after `since` that failed (5xx or no answer)."""
        return [r for r in list(self.records) if r[0] >= since and (r[1] == 0 or r[1] >= 500)]

    def first_on(self, colour: str, since: float, good_only: bool = True) -> float | None:
        """When the first request sent at or after `since` was answered by `colour` (2xx when good_only)."""
        for sent, status, answered in list(self.records):
            if sent >= since and answered == colour and (not good_only or 200 <= status < 300):
                return sent
        return None


class Rulebook:
    """`ansible-rulebook -r <rulebook> -i <inventory> --vars <vars>` with its output captured."""

    def __init__(self, rulebook: str, inventory: Path, vars_file: Path, collections: Path, workdir: Path):
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(collections), env.get("PYTHONPATH", "")) if p)
        env.setdefault("ANSIBLE_NOCOLOR", "1")
        env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
        env["ANSIBLE_LOCALHOST_WARNING"] = "False"
        self.command = [str(RULEBOOK_BINARY), "-r", rulebook, "-i", str(inventory), "--vars", str(vars_file)]
        self.env = env
        self.workdir = workdir
        self.lines: list[tuple[float, str]] = []
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> Rulebook:
        self.proc = subprocess.Popen(
            self.command, cwd=str(self.workdir), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name="rulebook-output", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.time(), line.rstrip("\n")))

    @property
    def output(self) -> str:
        return "\n".join(line for _at, line in list(self.lines))

    def matching(self, pattern: str) -> list[tuple[float, str]]:
        regex = re.compile(pattern)
        return [(at, line) for at, line in list(self.lines) if regex.search(line)]

    def wait_for(self, pattern: str, timeout: float) -> tuple[float, str] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.matching(pattern)
            if found:
                return found[0]
            if self.proc is not None and self.proc.poll() is not None:
                time.sleep(0.2)  # let the reader drain the last lines
                found = self.matching(pattern)
                return found[0] if found else None
            time.sleep(0.1)
        return None

    def stop(self) -> None:
        """SIGINT to the rulebook's own process group (it started it), then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=5)


class EdaLab:
    """Backends, a router with the app's managed file and traffic statistics, inventory and rulebook vars.

    ``router``: ``nginx`` (a loopback nginx with the switchyard_bluegreen access log) or
    ``haproxy`` (a loopback master-worker HAProxy with its admin socket). ``times``: interval,
    window, bad_windows, min_requests of the source. Without ``rulebook`` nothing watches (the
    benchmark's "without automatic rollback" run).
    """

    def __init__(self, tmp_path: Path, times: dict, rulebook: bool = True, router: str = "nginx"):
        self.tmp = tmp_path
        self.router = router
        self.blue = ColourBackend("blue", "1.0.0").start()
        self.green = ColourBackend("green", "2.0.0").start()
        self.pools = {"blue": [self.blue.address], "green": [self.green.address]}
        self.nginx: LoopbackNginx | None = None
        self.haproxy: LoopbackHaproxy | None = None
        source = {"bluegreen_watch_router": router}
        if router == "nginx":
            self.nginx = LoopbackNginx(tmp_path / "nginx")
            self.managed = self.nginx.conf_d / f"bluegreen_{APP}.conf"
            access_log = tmp_path / "bluegreen.log"
            self._first_switch()
            self.port = free_port()
            (self.nginx.sites / "watched.conf").write_text(watched_site(
                f"{LOOPBACK}:{self.port}", APP, access_log,
                _access_log().NGINX_LOG_FORMAT, _access_log().NGINX_LOG_FORMAT_NAME))
            self.nginx.ports["watched"] = self.port
            self.nginx.start()
            router_vars = {
                "switch_nginx_conf": str(self.nginx.main_conf),
                "switch_nginx_config_dir": str(self.nginx.conf_d),
                "switch_nginx_binary": self.nginx.module_args()["nginx_binary"],
            }
            source["bluegreen_watch_access_log"] = str(access_log)
        else:
            self.haproxy = LoopbackHaproxy(tmp_path / "haproxy", APP)
            self.managed = self.haproxy.path
            self._first_switch()
            self.haproxy.start()
            self.port = self.haproxy.port
            router_vars = {
                "bluegreen_router": "haproxy",
                "switch_haproxy_config_dir": str(self.haproxy.conf_d),
                "switch_haproxy_admin_socket": str(self.haproxy.socket),
                "switch_haproxy_binary": HAPROXY,
                "switch_haproxy_config": [str(self.haproxy.main_cfg), str(self.haproxy.conf_d)],
                "switch_haproxy_reload_command": self.haproxy.reload_command(),
                "switch_haproxy_drain_timeout": 2,
            }
            source["bluegreen_watch_admin_socket"] = str(self.haproxy.socket)
        self.inventory = tmp_path / "inventory.json"
        self.inventory.write_text(json.dumps({"all": {
            "vars": {"bluegreen_app_name": APP, "bluegreen_pools": self.pools},
            "children": {"bluegreen_lb": {"hosts": {"lb0": {
                "ansible_connection": "local",
                "switch_verify_urls": [f"http://{LOOPBACK}:{self.port}/"],
                **router_vars,
            }}}},
        }}))
        self.vars_file = tmp_path / "vars.json"
        self.vars_file.write_text(json.dumps({
            **source,
            "bluegreen_watch_managed_file": str(self.managed),
            "bluegreen_watch_interval": times["interval"],
            "bluegreen_watch_window": times["window"],
            "bluegreen_watch_period": 600,
            "bluegreen_max_error_rate": 0.05,
            "bluegreen_max_p95_ms": 1000,
            "bluegreen_min_requests": times["min_requests"],
            "bluegreen_bad_windows": times["bad_windows"],
        }))
        self.load: LoadClient | None = None
        self.rulebook = Rulebook("switchyard.bluegreen.auto_rollback", self.inventory, self.vars_file,
                                 COLLECTIONS, REPO) if rulebook else None

    def _first_switch(self) -> None:
        """The managed file with blue live, written before the router starts (it loads the file)."""
        result = self.switch("blue", first=True)
        if result.failed:
            raise RuntimeError(f"could not write the managed file: {dict(result)}")

    def switch(self, colour: str, first: bool = False):
        """Switch the router to `colour` with its module, as the switch role would."""
        from tests.conftest import execute_module  # noqa: PLC0415 - runs the module as Ansible would

        if self.nginx is not None:
            return execute_module("nginx_upstream", {
                "name": APP, "pools": self.pools, "active": colour, "path": str(self.managed), "reload": not first,
                **self.nginx.module_args(),
            })
        args = {"name": APP, "pools": self.pools, "active": colour, "drain_timeout": 2, "apply": not first,
                **self.haproxy.module_args()}
        if not first:
            args["reload_command"] = self.haproxy.reload_command()
        return execute_module("haproxy_backend", args)

    def start_and_switch(self, rate: float = 40.0) -> float:
        """Load on, the rulebook (when there is one) watching blue, then the switch to green; returns its time."""
        self.load = LoadClient(self.port, rate=rate).start()
        if self.rulebook is not None:
            self.rulebook.start()
            if not self.rulebook.wait_for(r"bluegreen_watch decision: blue live", timeout=90):
                raise RuntimeError("ansible-rulebook did not start watching:\n" + self.rulebook.output[-4000:])
        result = self.switch("green")
        if result.failed:
            raise RuntimeError(f"the switch to green failed: {dict(result)}")
        if self.nginx is not None:
            self.nginx.wait_until_settled()
        return time.time()

    def live_in_metadata(self) -> str | None:
        return (_watch().read_metadata(str(self.managed), self.router) or {}).get("active")

    def router_colours(self, count: int = 10) -> dict[str, int]:
        """Which colour answered `count` requests through the router (nginx: X-App-Color, HAProxy: its server)."""
        if self.nginx is not None:
            return self.nginx.colour_counts("watched", count)
        return self.haproxy.colour_counts(count)

    def close(self) -> None:
        if self.load is not None:
            self.load.stop()
        if self.rulebook is not None:
            self.rulebook.stop()
            # Kept for diagnosis: the rulebook's whole output.
            (self.tmp / "rulebook.log").write_text(self.rulebook.output)
        if self.nginx is not None:
            self.nginx.stop()
        if self.haproxy is not None:
            self.haproxy.stop()
        self.blue.stop()
        self.green.stop()
