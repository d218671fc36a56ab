"""moto's server mode on 127.0.0.1: the local AWS API (Route53) for integration and fault tests."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from .ports import LOOPBACK, free_port, wait_for_port

# moto accepts any credentials; these only have to look like credentials.
DUMMY_KEY = "testing-key-id"
DUMMY_SECRET = "testing-secret-value"  # noqa: S105 - dummy credentials for the local emulator


def moto_server_binary() -> Path:
    return Path(sys.executable).parent / "moto_server"


class MotoServer:
    """A moto_server subprocess on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        binary = moto_server_binary()
        if not binary.exists():
            pytest.skip(f"{binary} not installed (pip package moto[server])")
        self.proc = subprocess.Popen(
            [str(binary), "-H", LOOPBACK, "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, timeout=30)

    def reset(self) -> None:
        """Forget every zone and record (moto's own reset endpoint)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["status"] == "ok"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_server():
    server = MotoServer()
    server.start()
    yield server
    server.stop()
