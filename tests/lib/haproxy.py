"""A private master-worker HAProxy on 127.0.0.1, for the integration tests and the benchmark.

The main configuration has an admin socket and a frontend on a free loopback port whose
`default_backend` is the one the haproxy_backend module's managed file defines. HAProxy runs
as `haproxy -W -D -p <pid> -f <main> -f <conf.d>`, so the managed file is loaded from the
directory, like the role sets up the Debian service. Reloads are SIGUSR2 to the master.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

from tests.lib import process

from .backends import pools_of
from .modules import execute_module
from .ports import LOOPBACK, free_port, wait_for_port

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
BACKEND = "shop"
COLOR_HEADER = "X-Bluegreen-Color"

MAIN_CFG = """\
global
    stats socket {socket} mode 600 level admin
    stats timeout 30s
    pidfile {pidfile}
{global_extra}
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s

frontend public
    bind {loopback}:{port}
{frontend_extra}    default_backend {backend}
"""


def admin_socket_request(path: str | Path, command: str, timeout: float = 5.0) -> str:
    """One command on HAProxy's admin socket (a connection per command); its whole answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(str(path))
        conn.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode()


class LoopbackHaproxy:
    """One HAProxy with a private directory: main.cfg, conf.d/, admin.sock, state/, pid file.

    `colour_header`: the frontend adds it with the colour of the server that answered (None: no
    header); `maxconn`: a global maxconn (None: HAProxy's default).
    """

    def __init__(self, prefix: Path, backend: str = BACKEND, *, colour_header: str | None = COLOR_HEADER,
                 maxconn: int | None = None):
        self.prefix = Path(prefix)
        self.conf_d = self.prefix / "conf.d"
        self.state_dir = self.prefix / "state"
        self.main_cfg = self.prefix / "main.cfg"
        self.socket = self.prefix / "admin.sock"
        self.pidfile = self.prefix / "haproxy.pid"
        self.port = free_port()
        self.backend = backend
        self.colour_header = colour_header
        for directory in (self.conf_d, self.state_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.main_cfg.write_text(MAIN_CFG.format(
            socket=self.socket, pidfile=self.pidfile, loopback=LOOPBACK, port=self.port, backend=backend,
            global_extra=f"    maxconn {maxconn}\n" if maxconn else "",
            frontend_extra=(f"    http-response set-header {colour_header} %[srv_name,field(1,-)]\n"
                            if colour_header else "")))

    @property
    def path(self) -> Path:
        return self.conf_d / f"bluegreen_{self.backend}.cfg"

    @property
    def state_file(self) -> Path:
        return self.state_dir / f"{self.backend}.state"

    def command_line(self) -> list[str]:
        return [HAPROXY, "-W", "-D", "-p", str(self.pidfile), "-f", str(self.main_cfg), "-f", str(self.conf_d)]

    def start(self) -> None:
        proc = subprocess.run(self.command_line(), capture_output=True, text=True, timeout=20, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"haproxy did not start: {proc.stderr}")
        wait_for_port(self.port)
        self.wait_socket()

    def wait_socket(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.api("show info")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def master_pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def worker_pid(self) -> int:
        for line in self.api("show info").splitlines():
            if line.startswith("Pid:"):
                return int(line.split(":", 1)[1])
        raise AssertionError("no Pid in show info")

    def reload(self, timeout: float = 10.0) -> None:
        """SIGUSR2 to the master (what `systemctl reload haproxy` does), then wait for a new worker and for the old
        one to exit: until it has, the admin socket may still answer from the old worker."""
        old = self.worker_pid()
        os.kill(self.master_pid(), signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.worker_pid() != old and not process.alive(old):
                    return
            except (OSError, AssertionError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("no new haproxy worker (and the old one gone) after the reload")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        pid = self.master_pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        else:
            os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def reload_command(self) -> list[str]:
        return ["kill", "-USR2", str(self.master_pid())]

    def module_args(self) -> dict:
        return {
            "haproxy_binary": HAPROXY,
            "haproxy_config": [str(self.main_cfg), str(self.conf_d)],
            "admin_socket": str(self.socket),
            "path": str(self.path),
            "state_file": str(self.state_file),
        }

    def api(self, command: str) -> str:
        return admin_socket_request(self.socket, command)

    def get(self, path: str = "/", conn: http.client.HTTPConnection | None = None):
        """(status, colour header) of one request through the frontend."""
        own = conn is None
        conn = conn or http.client.HTTPConnection(LOOPBACK, self.port, timeout=5)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            return response.status, response.getheader(self.colour_header or COLOR_HEADER)
        finally:
            if own:
                conn.close()

    def colour_counts(self, count: int = 20) -> dict:
        tally = Counter()
        for _n in range(count):
            status, colour = self.get()
            tally[colour if status == 200 else f"status_{status}"] += 1
        return dict(tally)


class HaproxyLab:
    """A loopback HAProxy, real blue/green backends, and the haproxy_backend module's arguments."""

    def __init__(self, haproxy: LoopbackHaproxy, backends: dict):
        self.haproxy = haproxy
        self.backends = backends
        self.path = haproxy.path

    def args(self, **overrides) -> dict:
        args = {"name": self.haproxy.backend, "pools": pools_of(self.backends), "drain_timeout": 5}
        args.update(self.haproxy.module_args())
        if self.haproxy.master_pid() is not None:
            args["reload_command"] = self.haproxy.reload_command()
        args.update(overrides)
        return {key: value for key, value in args.items() if value is not None}

    def switch(self, check_mode=False, diff=False, **overrides):
        return execute_module("haproxy_backend", self.args(**overrides), check_mode=check_mode, diff=diff)

    def info(self, **overrides):
        args = {"name": self.haproxy.backend, "conf_dir": str(self.haproxy.conf_d),
                "admin_socket": str(self.haproxy.socket)}
        args.update(overrides)
        return execute_module("haproxy_backend_info", {k: v for k, v in args.items() if v is not None})

    def live(self, count: int = 20) -> dict:
        return self.haproxy.colour_counts(count)
