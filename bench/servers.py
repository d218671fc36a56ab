# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The benchmark's real servers on 127.0.0.1: the blue/green backends and the nginx load balancer.

The backends are one nginx instance of their own with two ``return 200`` servers that add
``X-App-Color`` (fast, so the backends never limit the load and are never reloaded). The load
balancer is a second nginx whose main configuration includes ``<prefix>/conf.d/*.conf`` (where
the switching methods put the ``upstream app`` block) and proxies ``/`` to ``upstream app``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

NGINX = os.environ.get("BENCH_NGINX", "/usr/sbin/nginx")
LOOPBACK = "127.0.0.1"

BACKEND_CONF = """\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 2048; }}
http {{
    access_log off;
    keepalive_requests 100000;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    default_type text/plain;
{servers}
}}
"""

BACKEND_SERVER = """\
    server {{
        listen {address};
        location / {{
            add_header X-App-Color {colour} always;
            add_header X-App-Version 1.0.0-{colour} always;
            return 200 "{colour}\\n";
        }}
    }}
"""

LB_CONF = """\
worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 2048; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/conf.d/*.conf;
    server {{
        listen {address};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
"""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {LOOPBACK}:{port} after {timeout}s") from None
            time.sleep(0.02)


def children_of(pid):
    """Pids whose parent is ``pid`` (read from /proc)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[1] == str(pid) and fields[0] != "Z":
            found.add(int(entry))
    return found


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[-1].split()
    except OSError:
        return False
    return bool(fields) and fields[0] != "Z"


class NginxInstance:
    """A private nginx in ``prefix`` (all listeners on 127.0.0.1)."""

    def __init__(self, prefix, conf_text):
        self.prefix = Path(prefix)
        self.main_conf = self.prefix / "nginx.conf"
        self.pid_file = self.prefix / "nginx.pid"
        self.conf_d = self.prefix / "conf.d"
        for folder in (self.prefix / "tmp", self.conf_d):
            folder.mkdir(parents=True, exist_ok=True)
        self.main_conf.write_text(conf_text)

    def cmd(self, *args):
        return [NGINX, "-p", str(self.prefix), "-c", str(self.main_conf), *args]

    def run(self, *args):
        return subprocess.run(self.cmd(*args), capture_output=True, text=True, check=False)

    def start(self, ports):
        result = self.run()
        if result.returncode != 0:
            raise RuntimeError(f"nginx in {self.prefix} did not start: {result.stderr}")
        for port in ports:
            wait_for_port(port)

    @property
    def master_pid(self):
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def workers(self):
        master = self.master_pid
        return children_of(master) if master else set()

    def reload(self):
        return self.run("-s", "reload")

    def test(self):
        return self.run("-t")

    def wait_drained(self, old_workers, timeout=30.0):
        """Wait until none of ``old_workers`` is alive and a new generation exists."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(alive(pid) for pid in old_workers) and self.workers():
                return True
            time.sleep(0.01)
        return False

    def stop(self):
        master = self.master_pid
        if master is None:
            return
        os.kill(master, signal.SIGQUIT)
        deadline = time.monotonic() + 10
        while self.master_pid is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.master_pid is not None:
            os.kill(master, signal.SIGKILL)


class Backends(NginxInstance):
    """Blue and green on two loopback ports, served by one nginx that is never reloaded."""

    def __init__(self, prefix):
        self.ports = {"blue": free_port(), "green": free_port()}
        servers = "".join(BACKEND_SERVER.format(address=f"{LOOPBACK}:{port}", colour=colour)
                          for colour, port in self.ports.items())
        super().__init__(prefix, BACKEND_CONF.format(prefix=prefix, servers=servers))

    @property
    def pools(self):
        return {colour: [f"{LOOPBACK}:{port}"] for colour, port in self.ports.items()}

    def start(self, ports=None):
        super().start(self.ports.values())


class LoadBalancer(NginxInstance):
    """The nginx under test: proxies 127.0.0.1:<port>/ to ``upstream app`` from conf.d."""

    def __init__(self, prefix):
        self.port = free_port()
        super().__init__(prefix, LB_CONF.format(prefix=prefix, address=f"{LOOPBACK}:{self.port}"))

    def start(self, ports=None):
        super().start([self.port])

    def clear_conf_d(self):
        for entry in self.conf_d.iterdir():
            if entry.is_symlink() or entry.is_file():
                entry.unlink()
