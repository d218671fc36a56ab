# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The HAProxy router of the benchmark: a private master-worker HAProxy on 127.0.0.1 switched by haproxy_backend.

The same blue/green backends as the nginx load balancer; the backend section ``app`` is the
module's managed file in ``<prefix>/conf.d``, loaded with ``-f <prefix>/conf.d`` like the role
sets up the Debian service. A switch is one module process (runtime API, no reload).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import methods
import servers

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

MAIN_CFG = """\
global
    stats socket {socket} mode 600 level admin
    stats timeout 30s
    pidfile {pidfile}
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s

frontend public
    bind 127.0.0.1:{port}
    default_backend app
"""


class HAProxyRouter:
    key = "haproxy"
    label = "haproxy_backend (module)"

    def __init__(self, prefix, backends):
        self.prefix = Path(prefix)
        self.conf_d = self.prefix / "conf.d"
        self.state_dir = self.prefix / "state"
        for folder in (self.conf_d, self.state_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.main_cfg = self.prefix / "main.cfg"
        self.socket = self.prefix / "admin.sock"
        self.pidfile = self.prefix / "haproxy.pid"
        self.port = servers.free_port()
        self.backends = backends
        self.main_cfg.write_text(MAIN_CFG.format(socket=self.socket, pidfile=self.pidfile, port=self.port))
        self.started = False

    def available(self):
        """'' when the benchmark can run HAProxy, else why not."""
        if not Path(HAPROXY).exists():
            return "haproxy is not installed: the HAProxy phase was not run"
        if not (methods.REPO / "plugins" / "modules" / "haproxy_backend.py").exists():
            return "plugins/modules/haproxy_backend.py does not exist yet: the HAProxy phase was not run"
        return ""

    def master_pid(self):
        try:
            return int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def args(self, colour, **extra):
        args = {"name": "app", "pools": self.backends.pools, "active": colour,
                "path": str(self.conf_d / "bluegreen_app.cfg"), "state_file": str(self.state_dir / "app.state"),
                "haproxy_binary": HAPROXY, "haproxy_config": [str(self.main_cfg), str(self.conf_d)],
                "admin_socket": str(self.socket), "drain_timeout": 30}
        master = self.master_pid()
        if master:
            args["reload_command"] = ["kill", "-USR2", str(master)]
        args.update(extra)
        return args

    def start(self):
        result = methods.run_module("haproxy_backend", self.args("blue", apply=False))
        if result.get("failed"):
            raise RuntimeError(f"haproxy_backend could not write the initial backend: {result.get('msg')}")
        proc = subprocess.run([HAPROXY, "-W", "-D", "-p", str(self.pidfile), "-f", str(self.main_cfg),
                               "-f", str(self.conf_d)], capture_output=True, text=True, timeout=20, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"haproxy did not start: {proc.stderr}")
        self.started = True
        servers.wait_for_port(self.port)
        deadline = time.monotonic() + 10
        while not self.socket.exists() and time.monotonic() < deadline:
            time.sleep(0.02)

    def api(self, command):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def setup(self, colour):
        result = methods.run_module("haproxy_backend", self.args(colour))
        if result.get("failed"):
            raise RuntimeError(f"haproxy_backend setup failed: {result.get('msg')}")

    def switch(self, colour):
        result = methods.run_module("haproxy_backend", self.args(colour))
        return {"ok": not result.get("failed") and result.get("changed") is True, "msg": result.get("msg", ""),
                "timings": result.get("timings"), "reloaded": result.get("reloaded")}

    def stop(self):
        pid = self.master_pid()
        if pid is None or not self.started:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and servers.alive(pid):
            time.sleep(0.05)
