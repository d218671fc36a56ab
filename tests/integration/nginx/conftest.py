# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fixtures for nginx_upstream integration tests: a loopback nginx and real blue/green backends."""

from __future__ import annotations

import pytest

from tests.conftest import execute_module
from tests.lib.backends import blue_green, pools_of
from tests.lib.nginx import NGINX, LoopbackNginx, wait_for_workers

UPSTREAM = "shop"


@pytest.fixture
def backends():
    with blue_green() as pair:
        yield pair


class Lab:
    """One loopback nginx with proxy sites for `shop` and `shop_preview`, plus the module arguments."""

    def __init__(self, nginx: LoopbackNginx, backends: dict):
        self.nginx = nginx
        self.backends = backends
        self.path = nginx.conf_d / f"bluegreen_{UPSTREAM}.conf"
        # Backups, locks and markers of every test stay in its own tmp_path (module_args sets it).
        self.state_dir = nginx.module_args()["state_dir"]

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
    nginx.wait_for_workers()
    yield lab
    nginx.stop()


__all__ = ["NGINX", "UPSTREAM", "Lab", "pools_of", "wait_for_workers"]
