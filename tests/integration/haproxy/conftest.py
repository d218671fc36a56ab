# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fixtures for haproxy_backend integration tests: a private master-worker HAProxy on 127.0.0.1.

The HAProxy (tests/lib/haproxy.py) has an admin socket and a frontend on a free loopback port
that adds X-Bluegreen-Color (the colour of the server that answered), with `default_backend
shop`, which the module's managed file defines.
"""

from __future__ import annotations

import pytest

from tests.lib.backends import blue_green, pools_of
from tests.lib.haproxy import BACKEND, COLOR_HEADER, HAPROXY, LoopbackHaproxy
from tests.lib.haproxy import HaproxyLab as Lab


@pytest.fixture
def backends():
    with blue_green() as pair:
        yield pair


@pytest.fixture
def lab(tmp_path, backends):
    """HAProxy running with shop on blue (the first file written by the module with apply=false)."""
    haproxy = LoopbackHaproxy(tmp_path / "haproxy")
    lab = Lab(haproxy, backends)
    first = lab.switch(active="blue", apply=False)
    assert not first.failed, first
    haproxy.start()
    yield lab
    haproxy.stop()


__all__ = ["BACKEND", "COLOR_HEADER", "HAPROXY", "Lab", "LoopbackHaproxy", "pools_of"]


def runtime_states(lab: Lab) -> dict:
    """server -> (admin_state, weight) straight from the socket."""
    lines = lab.haproxy.api(f"show servers state {BACKEND}").splitlines()
    rows = [line.split() for line in lines if line and not line.startswith(("#", "1"))]
    return {row[3]: (int(row[6]), int(row[7])) for row in rows}
