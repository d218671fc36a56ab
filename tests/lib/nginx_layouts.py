"""Real-world nginx layouts (tests/integration/nginx/layouts/<name>/) run by a real nginx on 127.0.0.1.

Each layout directory is a copy of configuration files nobody here wrote (see its README.md);
only ports and paths were adapted, as placeholders filled in here:

- ``@PREFIX@``: the directory the layout is copied to (nginx runs with ``-p`` there);
- ``@PORT_DEFAULT@``, ``@PORT_APP@``: free loopback ports;
- ``@BACKEND@``: the address of the blue backend (the application's own upstream server).

Files the tests add (the operator's site that proxies to the application, its preview
site) are written by ``add_site`` and are named as such.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .ports import LOOPBACK, free_port, wait_for_port

NGINX = os.environ.get("SWITCHYARD_TEST_NGINX", "/usr/sbin/nginx")
LAYOUTS = Path(__file__).resolve().parents[1] / "integration" / "nginx" / "layouts"

# Directories the layouts' configurations expect to exist (an include glob or a log/cache path).
RUNTIME_DIRS = ("logs", "www", "cache", "conf.d", "sites-enabled", "modules-enabled", "custom.d")


class LayoutNginx:
    """One layout copied to ``root`` and served by its own nginx master."""

    def __init__(self, layout: str, root: Path, blue_backend: str):
        self.layout = layout
        self.root = Path(root)
        shutil.copytree(LAYOUTS / layout, self.root, ignore=shutil.ignore_patterns("README.md"))
        self.ports = {"default": free_port(), "app": free_port()}
        values = {"@PREFIX@": str(self.root), "@PORT_DEFAULT@": str(self.ports["default"]),
                  "@PORT_APP@": str(self.ports["app"]), "@BACKEND@": blue_backend}
        used = set()
        for path in self.root.rglob("*"):
            if path.is_file():
                text = path.read_text()
                for key, value in values.items():
                    used.update([key] if key in text else [])
                    text = text.replace(key, value)
                path.write_text(text)
        # Only the ports a layout listens on are waited for.
        self.ports = {name: port for name, port in self.ports.items() if f"@PORT_{name.upper()}@" in used}
        for name in RUNTIME_DIRS:
            (self.root / name).mkdir(exist_ok=True)
        if (self.root / "sites-available" / "default").exists():
            # As the Debian package installs it.
            (self.root / "sites-enabled" / "default").symlink_to("../sites-available/default")
        self.main_conf = self.root / "nginx.conf"

    # --- configuration ---------------------------------------------------------------------
    def add_site(self, relative: str, text: str, port_name: str) -> Path:
        """A site file the test writes (the operator's own); ``@PORT@`` is a fresh loopback port."""
        self.ports[port_name] = self.ports.get(port_name) or free_port()
        path = self.root / relative
        path.write_text(text.replace("@PORT@", str(self.ports[port_name])))
        return path

    def module_args(self) -> dict:
        return {"nginx_binary": NGINX, "nginx_conf": str(self.main_conf), "nginx_prefix": str(self.root)}

    # --- process -----------------------------------------------------------------------------
    def command(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([NGINX, "-p", str(self.root), "-c", str(self.main_conf), *args],
                              capture_output=True, text=True, check=False)

    def test_config(self) -> subprocess.CompletedProcess:
        return self.command("-t")

    def dump(self) -> str:
        result = self.command("-T")
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start(self) -> LayoutNginx:
        result = self.command()
        if result.returncode != 0:
            raise RuntimeError(f"nginx did not start on layout {self.layout}: {result.stderr}")
        for port in self.ports.values():
            wait_for_port(port)
        return self

    def wait_for_port(self, port_name: str) -> None:
        wait_for_port(self.ports[port_name])

    def master_pid(self) -> int | None:
        for candidate in (self.root / "nginx.pid", self.root / "logs" / "nginx.pid"):
            try:
                pid = int(candidate.read_text().strip())
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return None
            return pid
        return None

    def stop(self) -> None:
        master = self.master_pid()
        if master is None:
            return
        os.kill(master, signal.SIGQUIT)
        deadline = time.monotonic() + 10
        while self.master_pid() is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.master_pid() is not None:
            os.kill(master, signal.SIGKILL)

    # --- traffic -------------------------------------------------------------------------------
    def colours(self, port_name: str, count: int = 12) -> dict[str, int]:
        """``count`` requests on new connections to the site on ``port_name``, tallied by X-App-Color."""
        tally: dict[str, int] = {}
        for _request in range(count):
            conn = http.client.HTTPConnection(LOOPBACK, self.ports[port_name], timeout=5)
            try:
                conn.request("GET", "/", headers={"Host": "app.test"})
                response = conn.getresponse()
                response.read()
                key = response.getheader("X-App-Color") or f"status-{response.status}"
            finally:
                conn.close()
            tally[key] = tally.get(key, 0) + 1
        return tally
