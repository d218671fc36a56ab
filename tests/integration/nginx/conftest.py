# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fixtures for nginx_upstream integration tests: a loopback nginx and real blue/green backends."""

from __future__ import annotations

import time

import pytest

from tests.conftest import execute_module
from tests.lib.backends import ColourBackend
from tests.lib.nginx import NGINX, LoopbackNginx

UPSTREAM = "shop"


@pytest.fixture
def backends():
    blue = ColourBackend("blue", "1.0.0").start()
    green = ColourBackend("green", "2.0.0").start()
    yield {"blue": blue, "green": green}
    blue.stop()
    green.stop()


def pools_of(backends) -> dict:
    return {colour: [backend.address] for colour, backend in backends.items()}


def wait_for_workers(nginx: LoopbackNginx, count: int = 2, timeout: float = 10.0) -> None:
    """The start command returns before the master has forked its workers: wait for all of them,
    so that "same worker pids" comparisons in tests mean "no reload happened"."""
    deadline = time.monotonic() + timeout
    while len(nginx.worker_pids()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"nginx has {len(nginx.worker_pids())} workers after {timeout}s, expected {count}")
        time.sleep(0.01)


class Lab:
    """One loopback nginx with proxy sites for `shop` and `shop_preview`, plus the module arguments."""

    def __init__(self, nginx: LoopbackNginx, backends: dict):
        self.nginx = nginx
        self.backends = backends
        self.path = nginx.conf_d / f"bluegreen_{UPSTREAM}.conf"

    def args(self, **overrides) -> dict:
        args = {"name": UPSTREAM, "pools": pools_of(self.backends), "path": str(self.path), "drain_timeout": 5}
        args.update(self.nginx.module_args())
        args.update(overrides)
        return {key: value for key, value in args.items() if value is not None}

    def switch(self, check_mode=False, diff=False, **overrides):
        return execute_module("nginx_upstream", self.args(**overrides), check_mode=check_mode, diff=diff)

    def live(self, count=20) -> dict:
        return self.nginx.colour_counts(UPSTREAM, count)

    def preview(self, count=10) -> dict:
        return self.nginx.colour_counts(f"{UPSTREAM}_preview", count)


@pytest.fixture
def lab(tmp_path, backends):
    """nginx running with shop on blue and shop_preview on green (written by the module itself)."""
    nginx = LoopbackNginx(tmp_path / "nginx")
    nginx.add_proxy_site(UPSTREAM)
    nginx.add_proxy_site(f"{UPSTREAM}_preview")
    lab = Lab(nginx, backends)
    # nginx is not running yet: write the first file without a reload, then start nginx on it.
    first = lab.switch(active="blue", preview=True, reload=False)
    assert not first.failed, first
    nginx.start()
    wait_for_workers(nginx)
    yield lab
    nginx.stop()


__all__ = ["NGINX", "UPSTREAM", "Lab", "pools_of", "wait_for_workers"]
