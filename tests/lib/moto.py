"""moto's server mode on 127.0.0.1, behind the strict Route53 double, for integration and fault tests.

The ``moto_server`` fixture gives an endpoint whose ``url`` is the strict double
(tests/lib/route53_double.py) in front of moto_server, so every Route53 test meets the rules AWS
enforces and moto does not; ``moto_url`` is moto itself (for arranging state AWS would not
accept, or for other services). ``SWITCHYARD_ROUTE53_DOUBLE=0`` hands out plain moto instead.
"""

from __future__ import annotations

import json
import os
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


class Route53Endpoint:
    """What the tests get: ``url`` (the double, or moto), ``moto_url``, ``double`` and ``reset()``."""

    def __init__(self, server: MotoServer, double=None) -> None:
        self.server = server
        self.double = double
        self.moto_url = server.url
        self.url = double.url if double is not None else server.url
        self.port = server.port

    def reset(self) -> None:
        self.server.reset()
        if self.double is not None:
            self.double.clear()

    def stop(self) -> None:
        if self.double is not None:
            self.double.stop()
        self.server.stop()


def strict_double_enabled() -> bool:
    return os.environ.get("SWITCHYARD_ROUTE53_DOUBLE", "1") not in ("0", "false", "no")


@pytest.fixture(scope="session")
def moto_server():
    server = MotoServer()
    server.start()
    double = None
    if strict_double_enabled():
        from .route53_double import StrictRoute53  # noqa: PLC0415 - needs boto3, only where moto runs

        double = StrictRoute53(server.url).start()
    endpoint = Route53Endpoint(server, double)
    yield endpoint
    endpoint.stop()
