# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nginx and switch roles against a real nginx and real colour backends on loopback.

The roles run through ansible-playbook with connection local: the nginx role on an nginx
the "user already runs" (nginx_install: false), then the switch role. Traffic is read
back through nginx's live listener, so each test sees what a client would.
"""

from __future__ import annotations

import datetime
import json
import re
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import execute_playbook
from tests.lib.backends import ColourBackend
from tests.lib.nginx import LoopbackNginx
from tests.lib.ports import free_port

PLAYBOOK = """\
- name: Front and switch on a loopback nginx
  hosts: bluegreen_lb
  gather_facts: false
  tasks:
    - name: Converge the front
      ansible.builtin.include_role:
        name: switchyard.bluegreen.nginx
      when: run_front | default(true) | bool
    - name: Switch
      ansible.builtin.include_role:
        name: switchyard.bluegreen.switch
      when: run_switch | default(true) | bool
    - name: Show the result
      ansible.builtin.debug:
        msg: "RESULT {{ switch_result | default({}) | to_json }}"
      when: run_switch | default(true) | bool
"""


class Sandbox:
    """Colour backends and one loopback nginx per load balancer (inventory hosts lb0, lb1, ...)."""

    def __init__(self, tmp_path: Path, balancers: int = 1):
        self.blue = ColourBackend("blue", "1.0.0").start()
        self.green = ColourBackend("green", "2.0.0").start()
        self.nginxes = [LoopbackNginx(tmp_path / f"nginx{i}") for i in range(balancers)]
        self.nginx = self.nginxes[0]
        self.ports = [(free_port(), free_port()) for _n in range(balancers)]
        self.live_port, self.preview_port = self.ports[0]
        self.playbook = tmp_path / "play.yml"
        self.playbook.write_text(PLAYBOOK)
        self.inventory = tmp_path / "inventory.json"
        hosts = {}
        for i, (nginx, (live, preview)) in enumerate(zip(self.nginxes, self.ports)):
            hosts[f"lb{i}"] = {
                "ansible_connection": "local",
                "bluegreen_address": "127.0.0.1",
                "bluegreen_lb_port": live,
                "bluegreen_preview_port": preview,
                "nginx_conf": str(nginx.main_conf),
                "nginx_config_dir": str(nginx.conf_d),
                "switch_nginx_conf": str(nginx.main_conf),
                "switch_nginx_config_dir": str(nginx.conf_d),
            }
        self.inventory.write_text(json.dumps({"all": {
            "vars": {
                "bluegreen_app_name": "shop",
                "bluegreen_pools": {"blue": [self.blue.address], "green": [self.green.address]},
                "nginx_install": False,
                "nginx_binary": "/usr/sbin/nginx",
                "nginx_listen_address": "127.0.0.1",
                "switch_nginx_binary": "/usr/sbin/nginx",
                "switch_verify_requests": 20,
                # Each balancer is checked through its own listener.
                "switch_verify_urls": [f"http://127.0.0.1:{live}/" for live, _preview in self.ports],
            },
            "children": {"bluegreen_lb": {"hosts": hosts}},
        }}))
        for nginx in self.nginxes:
            nginx.start()

    @property
    def upstream_file(self) -> Path:
        return self.nginx.conf_d / "bluegreen_shop.conf"

    def play(self, *args: str, **extra_vars):
        proc = execute_playbook(self.playbook, inventory=self.inventory, extra_vars=extra_vars, args=list(args))
        # The nginx role's handler only signals the reload: let it finish before reading traffic.
        for nginx in self.nginxes:
            nginx.wait_until_settled()
        return proc

    def colours(self, port: int | None = None, count: int = 20) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _n in range(count):
            with urllib.request.urlopen(f"http://127.0.0.1:{port or self.live_port}/", timeout=5) as response:
                colour = response.headers["X-App-Color"]
                assert response.headers["X-Bluegreen-Color"] == colour
            counts[colour] = counts.get(colour, 0) + 1
        return counts

    def close(self) -> None:
        for nginx in self.nginxes:
            nginx.stop()
        self.blue.stop()
        self.green.stop()


@pytest.fixture
def sandbox(tmp_path):
    box = Sandbox(tmp_path)
    yield box
    box.close()


def result_of(proc) -> dict:
    match = re.search(r'"msg": "RESULT (\{.*\})"', proc.stdout)
    assert match, proc.stdout[-3000:]
    return json.loads(match.group(1).replace('\\"', '"'))


def recap_changed(proc) -> int:
    return sum(int(n) for n in re.findall(r"lb\d+\s+: ok=\d+\s+changed=(\d+)", proc.stdout))


def test_front_then_switch_moves_all_traffic_and_repeats_as_no_op(sandbox):
    proc = sandbox.play(run_switch=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sandbox.colours() == {"blue": 20}
    assert sandbox.colours(sandbox.preview_port, 5) == {"green": 5}

    proc = sandbox.play()
    assert proc.returncode == 0, proc.stdout[-3000:]
    result = result_of(proc)
    assert result["switched"] is True
    assert (result["live"], result["previous"]) == ("green", "blue")
    assert "green=20" in result["verification"]
    assert result["reload_skew_s"] == 0.0  # one load balancer
    assert sandbox.colours() == {"green": 20}
    assert sandbox.colours(sandbox.preview_port, 5) == {"blue": 5}

    # Asking for the colour that is live already changes nothing, front included.
    proc = sandbox.play(bluegreen_target_color="green")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert result_of(proc)["switched"] is False
    assert recap_changed(proc) == 0
    assert sandbox.colours() == {"green": 20}


def test_unhealthy_target_is_refused_and_traffic_stays(sandbox):
    assert sandbox.play(run_switch=False).returncode == 0
    before = sandbox.upstream_file.read_bytes()
    sandbox.green.behaviour.status = 503
    proc = sandbox.play(run_front=False)
    assert proc.returncode != 0
    assert "green is not healthy, traffic stays on blue" in proc.stdout
    assert sandbox.upstream_file.read_bytes() == before
    assert sandbox.colours() == {"blue": 20}


def test_failed_verification_switches_back(sandbox):
    assert sandbox.play(run_switch=False).returncode == 0
    # The "public endpoint" answers from blue only, so the verification of green must fail.
    proc = sandbox.play(run_front=False, switch_verify_urls=[sandbox.blue.url + "/"])
    assert proc.returncode != 0
    assert "Verification of green" in proc.stdout
    assert "Traffic was switched back to blue" in proc.stdout
    assert sandbox.colours() == {"blue": 20}
    assert '"active":"blue"' in sandbox.upstream_file.read_text()


def test_check_mode_changes_nothing(sandbox):
    assert sandbox.play(run_switch=False).returncode == 0
    before = sandbox.upstream_file.read_bytes()
    proc = sandbox.play("--check", run_front=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sandbox.upstream_file.read_bytes() == before
    assert sandbox.colours() == {"blue": 20}


def test_two_balancers_switch_together_or_not_at_all(tmp_path):
    box = Sandbox(tmp_path, balancers=2)
    try:
        assert box.play(run_switch=False).returncode == 0
        for live, _preview in box.ports:
            assert box.colours(live, 5) == {"blue": 5}

        # lb1's nginx now rejects any new configuration: the switch must not reach lb0 either.
        (box.nginxes[1].conf_d / "broken.conf").write_text("this_is_not_a_directive;\n")
        before = [n.conf_d.joinpath("bluegreen_shop.conf").read_bytes() for n in box.nginxes]
        proc = box.play(run_front=False)
        assert proc.returncode != 0
        assert "no load balancer was switched" in proc.stdout
        assert [n.conf_d.joinpath("bluegreen_shop.conf").read_bytes() for n in box.nginxes] == before
        for live, _preview in box.ports:
            assert box.colours(live, 5) == {"blue": 5}

        (box.nginxes[1].conf_d / "broken.conf").unlink()
        proc = box.play(run_front=False)
        assert proc.returncode == 0, proc.stdout[-3000:]
        result = result_of(proc)
        assert result["switched"] is True
        # Each balancer reports when it served the new configuration; the skew spans them.
        applied = sorted(t["applied_at"] for t in result["router_timings"])
        assert len(applied) == 2 and all(a.endswith("Z") for a in applied), result["router_timings"]
        first, last = (datetime.datetime.fromisoformat(a.replace("Z", "+00:00")) for a in applied)
        assert result["reload_skew_s"] == round((last - first).total_seconds(), 3)
        assert 0 <= result["reload_skew_s"] <= float(result["duration_s"])
        for live, _preview in box.ports:
            assert box.colours(live, 5) == {"green": 5}
    finally:
        box.close()
