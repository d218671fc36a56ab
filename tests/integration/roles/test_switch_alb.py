# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The switch role's ALB router against moto_server on loopback (boto3 over real HTTP).

The load balancer of tests/integration/alb (listeners 80 and 443 forwarding to blue) sits behind
that suite's error-injecting proxy. moto's load balancer serves no traffic, so the role verifies
by reading the listeners back (switch_verify_method auto). These tests show that the switch and
that verification pass on a real change, that a listener reverted behind the switch fails the
verification and is switched back, that two listeners switch together or not at all, and that
bad input changes nothing.
"""

from __future__ import annotations

import base64
import json
import re

import pytest

from tests.conftest import execute_playbook
from tests.integration.alb.conftest import AlbEnv, InjectingProxy
from tests.integration.awx.conftest import Lab
from tests.lib.backends import ColourBackend

PLAYBOOK = """\
- name: Switch the listeners of an ALB
  hosts: bluegreen_lb
  gather_facts: false
  tasks:
    - name: Switch
      ansible.builtin.include_role:
        name: switchyard.bluegreen.switch
    - name: Show the result
      ansible.builtin.debug:
        msg: "RESULT {{ switch_result | to_json | b64encode }}"
"""

BOTH = [{"load_balancer_name": "shop", "listener_port": 80}, {"load_balancer_name": "shop", "listener_port": 443}]
POOLS = {"blue": "shop-blue", "green": "shop-green"}


class DenyNth(set):
    """``proxy.denied`` that refuses only the n-th call of one action (the loop's second listener)."""

    def __init__(self, action: str, nth: int) -> None:
        super().__init__()
        self.action, self.nth, self.calls = action, nth, 0

    def __contains__(self, action) -> bool:
        if action != self.action:
            return False
        self.calls += 1
        return self.calls == self.nth


@pytest.fixture
def alb(moto_server):
    moto_server.reset()
    proxy = InjectingProxy(moto_server.moto_url)
    try:
        yield AlbEnv(moto_server.moto_url, proxy)
    finally:
        proxy.stop()


def play(alb: AlbEnv, tmp_path, listeners=None, pools=None, **extra_vars):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {
        "vars": {
            "bluegreen_app_name": "shop",
            "bluegreen_router": "alb",
            "bluegreen_alb_listeners": listeners or BOTH,
            "bluegreen_alb_pools": pools or POOLS,
            "bluegreen_aws": alb.conn,
            # The role's HTTP precheck probes app hosts; the ALB's own target-health refusal stays on.
            "switch_precheck": False,
        },
        "children": {"bluegreen_lb": {"hosts": {"localhost": {"ansible_connection": "local"}}}},
    }}))
    return execute_playbook(playbook, inventory=inventory, extra_vars=extra_vars)


def result_of(proc) -> dict:
    match = re.search(r'"msg": "RESULT ([A-Za-z0-9+/=]+)"', proc.stdout)
    assert match, proc.stdout[-3000:]
    return json.loads(base64.b64decode(match.group(1)))


def both_weights(alb: AlbEnv) -> tuple:
    return alb.listener_weights(alb.http), alb.listener_weights(alb.https)


def test_switch_moves_both_listeners_and_verifies_by_reading_them_back(alb, tmp_path):
    proc = play(alb, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    result = result_of(proc)
    assert (result["router"], result["switched"], result["previous"], result["live"]) == ("alb", True, "blue", "green")
    assert "read back: live green" in result["verification"], result
    assert '"green": 1' in result["verification"] and '"blue": 0' in result["verification"], result
    assert '"listener_port": 443' in result["verification"], result
    assert re.fullmatch(r"localhost: listeners_changed 2, api_calls \d+", result["router_summary"]), result
    assert both_weights(alb) == ({"blue": 0, "green": 1}, {"blue": 0, "green": 1})
    # The HTTPS listener kept its certificate, policy and the OIDC action before the forward.
    https = alb.read_listener(alb.https)
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert [a["Type"] for a in sorted(https["DefaultActions"], key=lambda a: a.get("Order", 0))] == \
        ["authenticate-oidc", "forward"]

    # Ask for green again: it is live on both listeners, nothing to switch, no write.
    writes = alb.proxy.seen.count("ModifyListener")
    again = play(alb, tmp_path, bluegreen_target_color="green")
    assert again.returncode == 0, again.stdout[-3000:]
    assert result_of(again)["switched"] is False
    assert alb.proxy.seen.count("ModifyListener") == writes


def test_listener_reverted_behind_the_switch_fails_verification_and_switches_back(alb, tmp_path):
    # Another writer puts blue back right after alb_switch read its write back, before the role verifies.
    def revert():
        alb.elb.modify_listener(ListenerArn=alb.http,
                                DefaultActions=[{"Type": "forward", "TargetGroupArn": alb.tg["blue"]}])

    alb.proxy.after["ModifyListener"] = lambda: alb.proxy.after.__setitem__("DescribeListeners", revert)
    proc = play(alb, tmp_path, listeners=BOTH[:1])
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    assert "Verification of green by reading the ALB listeners back FAILED" in text, text[-3000:]
    assert "live blue" in text and "(expected green)" in text
    assert "Traffic was switched back to blue" in text
    assert alb.listener_weights(alb.http) == {"blue": 1, "green": 0}


def test_second_listener_refused_puts_the_first_back(alb, tmp_path):
    alb.proxy.denied = DenyNth("ModifyListener", 2)
    proc = play(alb, tmp_path)
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    assert "The ALB could not switch to green" in text, text[-3000:]
    assert '"listener_port": 443' in text and "AccessDenied" in text
    assert 'Every listener was put back on the weights it had before ({"load_balancer_name": "shop", ' \
           '"listener_port": 80})' in text
    # Listener 80 was switched, then put back; 443 was refused and never changed.
    assert alb.proxy.seen.count("ModifyListener") == 3
    assert both_weights(alb) == ({"blue": 1, "green": 0}, {"blue": 1})
    assert "Verification" not in text  # the role never got as far as verifying


def test_unknown_target_group_changes_nothing(alb, tmp_path):
    before = (alb.read_listener(alb.http), alb.read_listener(alb.https))
    proc = play(alb, tmp_path, pools={"blue": "shop-blue", "green": "shop-nope"})
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    assert "shop-nope" in text, text[-3000:]
    assert "ModifyListener" not in alb.proxy.seen
    assert (alb.read_listener(alb.http), alb.read_listener(alb.https)) == before


def test_listener_verification_with_another_router_is_refused(tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {"localhost": {"ansible_connection": "local"}},
                                             "children": {"bluegreen_lb": {"hosts": {"localhost": {}}}}}}))
    proc = execute_playbook(playbook, inventory=inventory,
                            extra_vars={"bluegreen_router": "route53", "switch_verify_method": "listener"})
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    assert "listener the alb router" in text, text[-3000:]
    assert "Nothing was changed" in text


class AlbLab(Lab):
    """The AWX lab's job runner (ansible-runner, project = this checkout) with the ALB as the router.

    The colours are the lab's loopback backends (for the smoke test and precheck), the router is the
    moto ALB: only the inventory differs from the nginx lab, the playbooks are the same.
    """

    def __init__(self, tmp_path, alb: AlbEnv):  # pylint: disable=super-init-not-called
        self.tmp = tmp_path
        self.blue = ColourBackend("blue", "1.0.0").start()
        self.green = ColourBackend("green", "2.0.0").start()
        self.state_dir = tmp_path / "state"
        self.state_dir.mkdir()
        self.jobs = 0
        host = {"ansible_connection": "local", "bluegreen_address": "127.0.0.1"}
        self.inventory = tmp_path / "inventory.yml"
        self.inventory.write_text(json.dumps({"all": {
            "vars": {
                "bluegreen_app_name": "shop",
                "bluegreen_router": "alb",
                "bluegreen_ports": {"blue": self.blue.port, "green": self.green.port},
                "bluegreen_alb_listeners": BOTH,
                "bluegreen_alb_pools": POOLS,
                "bluegreen_aws": alb.conn,
                "environment_state_dir": str(self.state_dir),
            },
            "children": {"bluegreen_lb": {"hosts": {"localhost": host}},
                         "bluegreen_blue": {"hosts": {"localhost": {}}},
                         "bluegreen_green": {"hosts": {"localhost": {}}}},
        }}))

    def close(self) -> None:
        self.blue.stop()
        self.green.stop()


def test_switch_rollback_and_status_playbooks_with_the_alb_router(alb, tmp_path):
    lab = AlbLab(tmp_path, alb)
    try:
        lab.record("blue", "1.0.0")
        lab.record("green", "2.0.0")
        job = lab.run("playbooks/switch.yml")
        assert (job.status, job.rc) == ("successful", 0), job.stdout[-3000:]
        stats = job.artifacts
        assert (stats["bluegreen_live_color"], stats["bluegreen_previous_color"], stats["bluegreen_switched"],
                stats["bluegreen_version"], stats["bluegreen_failed"]) == ("green", "blue", True, "2.0.0", False)
        assert "read back: live green" in stats["bluegreen_verification"], stats
        assert both_weights(alb) == ({"blue": 0, "green": 1}, {"blue": 0, "green": 1})

        job = lab.run("playbooks/rollback.yml")
        assert (job.status, job.rc) == ("successful", 0), job.stdout[-3000:]
        assert (job.artifacts["bluegreen_live_color"], job.artifacts["bluegreen_switched"]) == ("blue", True)
        assert both_weights(alb) == ({"blue": 1, "green": 0}, {"blue": 1, "green": 0})

        job = lab.run("playbooks/status.yml")
        assert (job.status, job.rc) == ("successful", 0), job.stdout[-3000:]
        assert job.artifacts["bluegreen_live_color"] == "blue"
        # The status block as the job log shows it (a JSON list of lines, quotes escaped).
        assert 'router localhost: live blue weights {\\"blue\\": 1, \\"green\\": 0}' in job.stdout, job.stdout[-3000:]
    finally:
        lab.close()


STEP = """\
- name: One progressive step through the router contract (what tasks/progressive_step.yml does)
  hosts: bluegreen_lb
  gather_facts: false
  tasks:
    - name: Detect
      ansible.builtin.include_role:
        name: switchyard.bluegreen.switch
        tasks_from: detect.yml
    - name: Apply a 10 % step
      ansible.builtin.include_role:
        name: switchyard.bluegreen.switch
        tasks_from: router_alb.yml
      vars:
        switch_router_action: apply
        switch_router_to: green
        switch_router_weights: {green: 10, blue: 90}
"""


def test_a_progressive_step_sets_the_split_on_every_listener(alb, tmp_path):
    # A first switch writes the inventory and attaches green (weight 0 -> 1) to both listeners; then blue again.
    assert play(alb, tmp_path).returncode == 0
    assert play(alb, tmp_path).returncode == 0
    assert both_weights(alb) == ({"blue": 1, "green": 0}, {"blue": 1, "green": 0})
    playbook = tmp_path / "step.yml"
    playbook.write_text(STEP)
    proc = execute_playbook(playbook, inventory=tmp_path / "inventory.json")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert both_weights(alb) == ({"blue": 90, "green": 10}, {"blue": 90, "green": 10})
