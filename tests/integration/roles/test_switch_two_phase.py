# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The switch role across two load balancers on loopback: two-phase (stage, then commit at one instant).

Two real nginx (or HAProxy) instances, each with its own managed file, reached with connection local,
switched by playbooks/switch.yml. The SSH fleet of ten (tests/fleet) covers the same paths over SSH;
this is the quick check that runs with the role tests.
"""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from tests.lib.backends import ColourBackend
from tests.lib.haproxy import HAPROXY, LoopbackHaproxy
from tests.lib.modules import REPO, ansible_env, execute_module, execute_playbook
from tests.lib.nginx import LoopbackNginx

APP = "shop"
SWITCH = REPO / "playbooks" / "switch.yml"


class TwoBalancers:
    """blue and green backends behind two load balancers of one router kind."""

    def __init__(self, tmp_path, router):
        self.router = router
        self.blue = ColourBackend("blue", "1.0.0").start()
        self.green = ColourBackend("green", "2.0.0").start()
        self.pools = {"blue": [self.blue.address], "green": [self.green.address]}
        self.balancers = {}
        hosts = {}
        for name in ("lb1", "lb2"):
            if router == "nginx":
                lb = LoopbackNginx(tmp_path / name)
                result = execute_module("nginx_upstream", {"name": APP, "pools": self.pools, "active": "blue",
                                                           "path": str(lb.conf_d / f"bluegreen_{APP}.conf"),
                                                           "reload": False, **lb.module_args()})
                assert not result.failed, dict(result)
                lb.add_proxy_site(APP)
                lb.start()
                hosts[name] = {"switch_nginx_config_dir": str(lb.conf_d), "switch_nginx_conf": str(lb.main_conf),
                               "switch_nginx_binary": lb.binary,
                               "switch_verify_urls": [f"http://127.0.0.1:{lb.ports[APP]}/"]}
            else:
                lb = LoopbackHaproxy(tmp_path / name, APP)
                result = execute_module("haproxy_backend", {"name": APP, "pools": self.pools, "active": "blue",
                                                            "drain_timeout": 2, "apply": False, **lb.module_args()})
                assert not result.failed, dict(result)
                lb.start()
                hosts[name] = {"bluegreen_router": "haproxy", "switch_haproxy_config_dir": str(lb.conf_d),
                               "switch_haproxy_admin_socket": str(lb.socket), "switch_haproxy_binary": HAPROXY,
                               "switch_haproxy_config": [str(lb.main_cfg), str(lb.conf_d)],
                               "switch_haproxy_reload_command": lb.reload_command(),
                               "switch_haproxy_drain_timeout": 2,
                               "switch_verify_urls": [f"http://127.0.0.1:{lb.port}/"]}
            hosts[name]["ansible_connection"] = "local"
            self.balancers[name] = lb
        self.inventory = tmp_path / "inventory.json"
        self.inventory.write_text(json.dumps({"all": {
            "vars": {"bluegreen_app_name": APP, "bluegreen_pools": self.pools, "switch_verify_requests": 10},
            "children": {"bluegreen_lb": {"hosts": hosts}, "bluegreen_blue": {"hosts": {}},
                         "bluegreen_green": {"hosts": {}}},
        }}))

    def switch(self, *args, **extra_vars):
        # No preview listener on these load balancers: the smoke test probes the colour directly.
        return execute_playbook(SWITCH, inventory=self.inventory,
                                extra_vars={"smoke_test_preview": False, **extra_vars}, args=["-v", *args])

    def served_by(self, name):
        """The colours one load balancer answers with (a few requests)."""
        lb = self.balancers[name]
        return set(lb.colour_counts(APP, 6) if self.router == "nginx" else lb.colour_counts(6))

    def served(self):
        return {name: self.served_by(name) for name in self.balancers}

    def close(self):
        for lb in self.balancers.values():
            lb.stop()
        self.blue.stop()
        self.green.stop()


@pytest.fixture(params=["nginx", "haproxy"])
def lab(request, tmp_path):
    lab = TwoBalancers(tmp_path, request.param)
    yield lab
    lab.close()


def _task_ran(output, name):
    return re.search(rf"TASK \[[^\]]*{re.escape(name)}", output) is not None


def test_two_balancers_switch_in_two_phases_and_back(lab):
    assert lab.served() == {"lb1": {"blue"}, "lb2": {"blue"}}
    proc = lab.switch(bluegreen_target_color="green")
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert _task_ran(proc.stdout, "Stage the ")
    assert _task_ran(proc.stdout, "Commit on every load balancer at ")
    assert lab.served() == {"lb1": {"green"}, "lb2": {"green"}}
    # Every host reports when it committed, after the common instant it was given.
    committed = re.findall(r'"committed_at": "([0-9T:.\-]+Z)"', proc.stdout)
    assert len(committed) >= 2, proc.stdout[-3000:]

    again = lab.switch(bluegreen_target_color="green")
    assert again.returncode == 0, again.stdout[-3000:]
    assert "already live, nothing to switch" in again.stdout
    assert not _task_ran(again.stdout, "Stage the ")

    back = lab.switch(bluegreen_target_color="blue")
    assert back.returncode == 0, back.stdout[-3000:]
    assert lab.served() == {"lb1": {"blue"}, "lb2": {"blue"}}


def test_one_by_one_when_two_phase_is_off(lab):
    proc = lab.switch(bluegreen_target_color="green", bluegreen_two_phase=False)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert not _task_ran(proc.stdout, "Stage the ")
    assert lab.served() == {"lb1": {"green"}, "lb2": {"green"}}


def test_fewer_forks_than_balancers_is_refused_before_any_change(lab):
    proc = lab.switch("--forks", "1", bluegreen_target_color="green")
    assert proc.returncode != 0
    assert "forks 1 for 2 load balancers" in proc.stdout
    assert "--forks 2" in proc.stdout
    assert lab.served() == {"lb1": {"blue"}, "lb2": {"blue"}}


def test_a_balancer_lost_between_stage_and_commit_leaves_every_one_on_the_old_colour(lab, tmp_path):
    """Both stage; during the hold between the phases lb2's router is stopped, so lb2 fails at the commit.
    lb1, which committed, is put back: all or none, and the job names lb2."""
    log = tmp_path / "switch.log"
    command = [str(REPO / "build" / "venv" / "bin" / "ansible-playbook"), str(SWITCH), "-i", str(lab.inventory), "-v",
               "-e", json.dumps({"smoke_test_preview": False, "bluegreen_target_color": "green",
                                 "switch_pause_after_stage_s": 3})]
    with log.open("w") as handle:
        proc = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=ansible_env(), cwd=str(REPO))
    deadline = time.monotonic() + 120
    while "Hold between stage and commit" not in log.read_text() and proc.poll() is None:
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)
    lab.balancers["lb2"].stop()
    assert proc.wait(timeout=180) != 0
    output = log.read_text()
    assert _task_ran(output, "Commit on every load balancer at ")
    assert _task_ran(output, "Put every load balancer back")
    assert re.search(r"could not switch to green:\s+lb2: ", output), output[-3000:]
    assert "Every load balancer that switched was put back" in output
    assert lab.served_by("lb1") == {"blue"}
