# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The switch role's Route53 router against moto_server on loopback (boto3 over real HTTP).

A record name that clients cannot resolve here has no public URL to send traffic through,
so the role verifies by reading the record back (switch_verify_method auto). These tests
show that this verification passes on a real change and fails, and switches back, when the
record does not say what was asked.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time

import boto3
import pytest

from tests.conftest import execute_playbook
from tests.lib.moto import DUMMY_KEY, DUMMY_SECRET

PLAYBOOK = """\
- name: Switch a weighted Route53 record
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

TARGETS = {"blue": {"values": ["192.0.2.10"]}, "green": {"values": ["192.0.2.20"]}}


class Zone:
    def __init__(self, moto_url: str, tmp_path):
        self.client = boto3.client("route53", endpoint_url=moto_url, region_name="us-east-1",
                                   aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_SECRET)
        self.name = f"z{time.monotonic_ns()}.example.com"
        self.zone_id = self.client.create_hosted_zone(
            Name=self.name, CallerReference=self.name)["HostedZone"]["Id"].split("/")[-1]
        self.record = f"app.{self.name}"
        self.playbook = tmp_path / "play.yml"
        self.playbook.write_text(PLAYBOOK)
        self.inventory = tmp_path / "inventory.json"
        self.inventory.write_text(json.dumps({"all": {
            "vars": {
                "bluegreen_app_name": "shop",
                "bluegreen_router": "route53",
                "bluegreen_route53_zone": self.name,
                "bluegreen_route53_record": self.record,
                "bluegreen_route53_targets": TARGETS,
                "bluegreen_aws": {"endpoint_url": moto_url, "access_key": DUMMY_KEY,
                                  "secret_key": DUMMY_SECRET, "region": "us-east-1"},
                # The target's own health is not what these tests are about.
                "switch_precheck": False,
            },
            "children": {"bluegreen_lb": {"hosts": {"localhost": {"ansible_connection": "local"}}}},
        }}))

    def weights(self) -> dict:
        sets = self.client.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]
        return {r["SetIdentifier"]: r["Weight"] for r in sets if r.get("SetIdentifier")}

    def set_weights(self, weights: dict) -> None:
        changes = [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": self.record, "Type": "A", "SetIdentifier": colour, "Weight": weight, "TTL": 60,
            "ResourceRecords": [{"Value": v} for v in TARGETS[colour]["values"]]}}
            for colour, weight in weights.items()]
        self.client.change_resource_record_sets(HostedZoneId=self.zone_id, ChangeBatch={"Changes": changes})

    def play(self, **extra_vars):
        return execute_playbook(self.playbook, inventory=self.inventory, extra_vars=extra_vars)


@pytest.fixture
def zone(moto_server, tmp_path):
    zone = Zone(moto_server.url, tmp_path)
    zone.set_weights({"blue": 100, "green": 0})
    return zone


def result_of(proc) -> dict:
    match = re.search(r'"msg": "RESULT ([A-Za-z0-9+/=]+)"', proc.stdout)
    assert match, proc.stdout[-3000:]
    return json.loads(base64.b64decode(match.group(1)))


def test_switch_verifies_by_reading_the_record_back(zone):
    proc = zone.play()
    assert proc.returncode == 0, proc.stdout[-3000:]
    result = result_of(proc)
    assert (result["switched"], result["previous"], result["live"]) == (True, "blue", "green")
    assert result["verification"].startswith(f"record {zone.record} A read back: live green"), result
    assert '"green": 100' in result["verification"] and '"blue": 0' in result["verification"], result
    assert result["reload_skew_s"] is None  # one API change; no per-host moment to compare
    assert zone.weights() == {"blue": 0, "green": 100}


def test_record_changed_behind_the_switch_fails_verification_and_switches_back(zone):
    # Someone else puts blue back as soon as green is in: the read-back must catch it.
    stop = threading.Event()

    def revert_green():
        while not stop.is_set():
            if zone.weights().get("green") == 100:
                zone.set_weights({"blue": 100, "green": 0})
                return
            time.sleep(0.01)

    reverter = threading.Thread(target=revert_green, daemon=True)
    reverter.start()
    try:
        proc = zone.play()
    finally:
        stop.set()
        reverter.join(timeout=5)
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    assert "Verification of green by reading the Route53 record back FAILED" in text, text[-3000:]
    assert "live blue" in text and "(expected green)" in text
    assert "Traffic was switched back to blue" in text
    assert zone.weights() == {"blue": 100, "green": 0}


def test_record_verification_with_another_router_is_refused(tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {"localhost": {"ansible_connection": "local"}},
                                             "children": {"bluegreen_lb": {"hosts": {"localhost": {}}}}}}))
    proc = execute_playbook(playbook, inventory=inventory,
                            extra_vars={"bluegreen_router": "nginx", "switch_verify_method": "record"})
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    assert "switch_verify_method record needs the route53 router" in text, text[-3000:]
    assert "Nothing was changed" in text
