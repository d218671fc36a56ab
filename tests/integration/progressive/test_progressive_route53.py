# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The progressive switch with the Route53 router, against moto_server on loopback.

There is no router to read traffic from: a step only waits (at least the record's TTL) and is
judged by probes when there are any. These tests show the split the steps write, and that a
pause shorter than the TTL is refused before anything changes.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.integration.roles.test_switch_route53 import Zone, result_of


@pytest.fixture
def zone(moto_server, tmp_path):
    zone = Zone(moto_server.url, tmp_path)
    zone.set_weights({"blue": 100, "green": 0})
    return zone


def test_steps_write_each_split_then_switch(zone):
    seen = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            weights = zone.weights()
            if not seen or seen[-1] != weights:
                seen.append(weights)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        proc = zone.play(bluegreen_steps="20:1, 100", switch_route53_ttl=1)
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert seen[0] == {"blue": 100, "green": 0}
    assert {"blue": 80, "green": 20} in seen, seen
    assert seen[-1] == {"blue": 0, "green": 100}
    result = result_of(proc)
    steps = [(step["weight"], step["verdict"]) for step in result["steps"]]
    assert steps == [(20, "not_analysed"), (100, "not_analysed")]


def test_a_pause_shorter_than_the_ttl_is_refused_before_any_change(zone):
    proc = zone.play(bluegreen_steps=[{"weight": 10, "pause": 5}], switch_route53_ttl=60)
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    assert "step 1 pause 5 s is shorter than the record's TTL 60 s" in text, text[-3000:]
    assert zone.weights() == {"blue": 100, "green": 0}
