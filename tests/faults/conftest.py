# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fixtures of the fault-injection suite: real nginx on loopback, real backends, moto behind a fault proxy.

Every test records what it tried and what it saw through the ``fault_log`` fixture; the
lines go to ``build/fault-results/results.jsonl`` (one JSON object per test, with the
test's outcome), and ``scripts/faults_report.py`` renders them into docs/reliability.md.

Counts: ``SWITCHYARD_FAULT_FULL=1`` runs the full counts (``make faults``); without it the
reduced counts of ``make test`` are used. ``SWITCHYARD_FAULT_KILLS`` and
``SWITCHYARD_FAULT_ROUNDS`` override either.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import BUILD, REPO, ansible_env
from tests.lib import faultlog
from tests.lib.backends import ColourBackend, blue_green, pools_of
from tests.lib.modules import module_command, module_input
from tests.lib.nginx import LoopbackNginx
from tests.lib.ports import LOOPBACK

FULL = os.environ.get("SWITCHYARD_FAULT_FULL", "") not in ("", "0", "false", "no")
KILLS = int(os.environ.get("SWITCHYARD_FAULT_KILLS", "100" if FULL else "20"))
ROUNDS = int(os.environ.get("SWITCHYARD_FAULT_ROUNDS", "10" if FULL else "3"))
RESULTS = Path(os.environ.get("SWITCHYARD_FAULT_RESULTS", BUILD / "fault-results" / "results.jsonl"))
UPSTREAM = "app"


# --------------------------------------------------------------------------- results


def pytest_sessionstart(session):
    # One file per run, so docs/reliability.md is rendered from one run only.
    if os.environ.get("SWITCHYARD_FAULT_RESULTS_APPEND") != "1":
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text("")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    faultlog.keep_report(item, outcome.get_result())


@pytest.fixture
def fault_log(request):
    log = faultlog.FaultLog(request.node.nodeid)
    yield log
    faultlog.record(request, log, results=RESULTS, full=FULL, reproduce=f"build/venv/bin/pytest '{log.nodeid}'")


# --------------------------------------------------------------------------- modules as processes


def module_payload(args: dict, check_mode: bool = False) -> bytes:
    return module_input(args, check_mode=check_mode).encode()


def start_module(name: str, env: dict | None = None) -> subprocess.Popen:
    """A module process that waits for its arguments on stdin (send them with ``finish_module``).

    It runs in its own session so that SIGKILL can take out its children (nginx -T, the
    reload command) together with it.
    """
    return subprocess.Popen(module_command(name), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ansible_env(env), start_new_session=True)


class Result(dict):
    """A module's JSON result; ``_no_json`` is set when the module crashed without printing one."""

    @property
    def failed(self) -> bool:
        return bool(self.get("failed"))

    @property
    def stderr(self) -> str:
        return self.get("_stderr", "")


def parse_result(proc: subprocess.Popen, stdout: bytes, stderr: bytes) -> Result:
    try:
        result = Result(json.loads(stdout))
    except ValueError:
        result = Result(failed=True, msg=None, _no_json=True)
    result["_rc"] = proc.returncode
    result["_stderr"] = stderr.decode(errors="replace")[-3000:]
    return result


def run_module_process(name: str, args: dict, check_mode: bool = False, timeout: float = 120,
                       env: dict | None = None) -> Result:
    """Like tests.conftest.execute_module, but a crash (no JSON) is a result, not an exception."""
    proc = start_module(name, env)
    try:
        stdout, stderr = proc.communicate(module_payload(args, check_mode), timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        stdout, stderr = proc.communicate()
    return parse_result(proc, stdout, stderr)


# --------------------------------------------------------------------------- nginx lab


def wait_for_single_generation(nginx: LoopbackNginx, count: int = 2, timeout: float = 15.0) -> set[int]:
    """Wait until only one worker generation is left (old workers gone after a reload)."""
    return nginx.wait_for_single_generation(count, timeout)


class Lab:
    """A loopback nginx proxying `app`, blue and green backends, and the managed file's arguments."""

    def __init__(self, nginx: LoopbackNginx, blue: ColourBackend, green: ColourBackend):
        self.nginx = nginx
        self.backends = {"blue": blue, "green": green}
        self.path = nginx.conf_d / f"bluegreen_{UPSTREAM}.conf"

    def args(self, **overrides) -> dict:
        args = {"name": UPSTREAM, "path": str(self.path), "drain_timeout": 5, "reload_timeout": 5,
                "lock_timeout": 60,
                "pools": pools_of(self.backends)}
        args.update(self.nginx.module_args())
        args.update(overrides)
        return {key: value for key, value in args.items() if value is not None}

    def switch(self, **overrides) -> Result:
        return run_module_process("nginx_upstream", self.args(**overrides))

    def live(self, count: int = 20) -> dict:
        return self.nginx.colour_counts(UPSTREAM, count)

    def file_bytes(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def dir_listing(self) -> list[str]:
        return sorted(p.name for p in self.path.parent.iterdir())


@pytest.fixture
def backends():
    with blue_green() as pair:
        yield pair["blue"], pair["green"]


def make_lab(prefix: Path, blue: ColourBackend, green: ColourBackend) -> Lab:
    nginx = LoopbackNginx(prefix)
    nginx.add_proxy_site(UPSTREAM)
    lab = Lab(nginx, blue, green)
    # nginx is not running yet: write the first file without a reload, then start nginx on it.
    first = lab.switch(active="blue", reload=False)
    assert not first.get("failed"), first
    nginx.start()
    nginx.wait_for_workers()
    return lab


@pytest.fixture
def lab(tmp_path, backends):
    """nginx running with `app` on blue (file written by the module)."""
    lab = make_lab(tmp_path / "nginx", *backends)
    yield lab
    lab.nginx.stop()


# --------------------------------------------------------------------------- traffic


class TrafficClient:
    """Background client: one GET per new connection through the LB, tallying statuses (bounded)."""

    def __init__(self, port: int, max_requests: int = 200_000, max_seconds: float = 900, path: str = "/"):
        self.port = port
        self.path = path
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.statuses: dict[str, int] = {}
        self.colours: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fault-traffic", daemon=True)

    def _loop(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and self.requests < self.max_requests and time.monotonic() < deadline:
            conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=10)
            try:
                conn.request("GET", self.path)
                response = conn.getresponse()
                response.read()
                key = str(response.status)
                self.statuses[key] = self.statuses.get(key, 0) + 1
                colour = response.getheader("X-App-Color", "none")
                self.colours[colour] = self.colours.get(colour, 0) + 1
            except (OSError, http.client.HTTPException) as exc:
                name = type(exc).__name__
                self.errors[name] = self.errors.get(name, 0) + 1
            finally:
                conn.close()
                self.requests += 1

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status.startswith("5"))

    def start(self) -> TrafficClient:
        self._thread.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.summary()

    def summary(self) -> dict:
        return {"requests": self.requests, "statuses": dict(self.statuses), "colours": dict(self.colours),
                "connection_errors": dict(self.errors)}


# --------------------------------------------------------------------------- mounts (disk full, read-only dir)


def run_quiet(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@pytest.fixture
def mounts():
    """Mount points made by a test; unmounted (innermost first) whatever happens."""
    made: list[Path] = []
    yield made
    for point in reversed(made):
        run_quiet(["umount", "-l", str(point)])


# --------------------------------------------------------------------------- moto behind a fault proxy

@pytest.fixture
def fault_proxy(moto_server):
    from tests.faults.faultproxy import FaultProxy  # noqa: PLC0415 - only where moto runs

    moto_server.reset()
    proxy = FaultProxy(moto_server.url).start()
    yield proxy
    proxy.stop()


def repo_path(*parts: str) -> Path:
    return REPO.joinpath(*parts)
