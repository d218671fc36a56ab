# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/retire.yml with the Route53 router, on moto_server through the strict double.

Route53 answers with a weight-0 record set when every record with a weight above 0 is unhealthy,
so a colour whose record set is kept at weight 0 behind a health-checked live colour can still get
traffic: retiring it would send clients to a stopped service. The retire step must refuse that and
name the fix (idle_record: delete), and retire once the record set is gone.

The inventory has no application hosts: what is under test is whether the router play lets the
retire go on; the stop itself is the environment role's (tests/integration/roles/test_role_*).
"""

from __future__ import annotations

import json
import time

import boto3
import pytest

from tests.conftest import REPO, execute_playbook
from tests.lib.moto import DUMMY_KEY, DUMMY_SECRET

TARGETS = {"blue": {"values": ["192.0.2.10"]}, "green": {"values": ["192.0.2.20"]}}

SWITCH = """\
- name: Switch the record
  hosts: bluegreen_lb
  gather_facts: false
  roles:
    - switchyard.bluegreen.switch
"""


class Zone:
    def __init__(self, moto_url: str, tmp_path):
        self.client = boto3.client("route53", endpoint_url=moto_url, region_name="us-east-1",
                                   aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_SECRET)
        self.name = f"r{time.monotonic_ns()}.example.com"
        self.zone_id = self.client.create_hosted_zone(
            Name=self.name, CallerReference=self.name)["HostedZone"]["Id"].split("/")[-1]
        self.record = f"app.{self.name}"
        self.tmp = tmp_path
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
                "switch_precheck": False,
            },
            "children": {"bluegreen_lb": {"hosts": {"localhost": {"ansible_connection": "local"}}}},
        }}))

    def health_check(self) -> str:
        return self.client.create_health_check(CallerReference=f"hc{time.monotonic_ns()}", HealthCheckConfig={
            "IPAddress": "192.0.2.10", "Port": 80, "Type": "HTTP", "ResourcePath": "/healthz"})["HealthCheck"]["Id"]

    def set_weights(self, weights: dict, health_checks: dict | None = None) -> None:
        changes = []
        for colour, weight in weights.items():
            record_set = {"Name": self.record, "Type": "A", "SetIdentifier": colour, "Weight": weight, "TTL": 60,
                          "ResourceRecords": [{"Value": v} for v in TARGETS[colour]["values"]]}
            if (health_checks or {}).get(colour):
                record_set["HealthCheckId"] = health_checks[colour]
            changes.append({"Action": "UPSERT", "ResourceRecordSet": record_set})
        self.client.change_resource_record_sets(HostedZoneId=self.zone_id, ChangeBatch={"Changes": changes})

    def weights(self) -> dict:
        sets = self.client.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]
        return {r["SetIdentifier"]: r["Weight"] for r in sets if r.get("SetIdentifier")}

    def retire(self, **extra_vars):
        return execute_playbook(REPO / "playbooks" / "retire.yml", inventory=self.inventory, extra_vars=extra_vars)

    def switch(self, **extra_vars):
        playbook = self.tmp / "switch.yml"
        playbook.write_text(SWITCH)
        return execute_playbook(playbook, inventory=self.inventory, extra_vars=extra_vars)


@pytest.fixture
def zone(moto_server, tmp_path):
    return Zone(moto_server.url, tmp_path)


def test_retire_refuses_a_colour_route53_can_still_answer_with(zone):
    # Blue is live behind a health check; green's record set is kept at weight 0.
    zone.set_weights({"blue": 100, "green": 0}, health_checks={"blue": zone.health_check()})
    proc = zone.retire()
    assert proc.returncode != 0, proc.stdout[-3000:]
    text = " ".join(proc.stdout.split())
    assert f"Route53 can still answer {zone.record} A with green" in text, text[-3000:]
    assert "every record with a weight above 0 has a health check" in text
    assert "idle_record: delete" in text and "green was not stopped" in text
    assert "Retire | stop the idle colour once drained" not in text
    assert zone.weights() == {"blue": 100, "green": 0}


def test_retire_goes_on_when_no_live_record_can_turn_unhealthy(zone):
    # Without a health check on blue, Route53 never answers with the weight-0 green set.
    zone.set_weights({"blue": 100, "green": 0})
    proc = zone.retire()
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Retire | stop the idle colour once drained" in proc.stdout


def test_switch_with_idle_record_delete_makes_the_retire_safe(zone):
    health_check = zone.health_check()
    zone.set_weights({"blue": 0, "green": 100}, health_checks={"green": health_check})
    assert zone.retire().returncode != 0  # blue is answerable while its set is kept
    # Switch to blue with idle_record delete: green's set goes, blue keeps serving.
    proc = zone.switch(bluegreen_target_color="blue", switch_route53_idle_record="delete")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert set(zone.weights()) == {"blue"}, zone.weights()
    proc = zone.retire()
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Retire | stop the idle colour once drained" in proc.stdout
