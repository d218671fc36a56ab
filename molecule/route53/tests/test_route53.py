# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""route53: the DNS router end to end against moto's server.

Phase "deployed" (after converge): deploy 1.0.0 created the weighted record with blue
live, deploy 2.0.0 switched it to green. Phase "rolled_back" (after side_effect): the
rollback switched it back to blue. The record is read back from moto; moto's request
recorder shows every change batch the playbooks sent.
"""

from __future__ import annotations

import base64
import json
import sys
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from molecule_checks import ephemeral, fatal_text, fetch, phase, recorded

PHASE = phase("deployed")
LIVE = {"deployed": "green", "rolled_back": "blue"}[PHASE]
IDLE = "blue" if LIVE == "green" else "green"
ADDRESSES = {"blue": "10.88.233.11", "green": "10.88.233.12"}
VERSIONS = {"blue": "1.0.0", "green": "2.0.0"}
APP_HOSTS = {c: testinfra.get_host(f"podman://sy-route53-{c}") for c in ("blue", "green")}
NS = "{https://route53.amazonaws.com/doc/2013-04-01/}"
rolled_back_only = pytest.mark.skipif(PHASE != "rolled_back", reason="checked after side_effect")


def moto() -> dict:
    return recorded("moto")


def weighted_sets() -> dict[str, dict]:
    # moto accepts any credentials; these are its documented dummies.
    client = boto3.client("route53", endpoint_url=moto()["endpoint_url"], region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106
    sets = client.list_resource_record_sets(HostedZoneId=moto()["zone_id"])["ResourceRecordSets"]
    return {s["SetIdentifier"]: s for s in sets if s["Name"] == "app.example.test." and s["Type"] == "A"}


def change_batches() -> list[list[dict]]:
    """Every ChangeResourceRecordSets call moto received, in order: [{action, set, weight, values}]."""
    url = f"{moto()['endpoint_url']}/moto-api/recorder/download-recording"
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (moto on loopback)
        lines = answer.read().decode().splitlines()
    batches = []
    for line in lines:
        request = json.loads(line)
        if request["method"] != "POST" or not request["url"].rstrip("/").endswith("/rrset"):
            continue
        body = request["body"]
        if not body.lstrip().startswith("<"):
            body = base64.b64decode(body).decode()
        changes = []
        for change in ET.fromstring(body).iter(f"{NS}Change"):  # noqa: S314 (requests our own playbooks sent)
            rrset = change.find(f"{NS}ResourceRecordSet")
            changes.append({
                "action": change.findtext(f"{NS}Action"),
                "name": rrset.findtext(f"{NS}Name"),
                "set": rrset.findtext(f"{NS}SetIdentifier"),
                "weight": int(rrset.findtext(f"{NS}Weight") or -1),
                "values": [v.text for v in rrset.iter(f"{NS}Value")],
            })
        batches.append(changes)
    return batches


def weights_of(batch: list[dict]) -> dict[str, int]:
    return {c["set"]: c["weight"] for c in batch}


def test_record_has_one_weighted_set_per_colour_with_the_live_one_weighted():
    sets = weighted_sets()
    assert set(sets) == {"blue", "green"}
    for colour, record in sets.items():
        assert [r["Value"] for r in record["ResourceRecords"]] == [ADDRESSES[colour]]
    assert sets[LIVE]["Weight"] > 0
    assert sets[IDLE]["Weight"] == 0


def test_first_install_created_the_record_with_blue_live():
    attempt = recorded("attempt_deploy_1_0_0")
    assert attempt["rc"] == 0, fatal_text(attempt)
    first = change_batches()[0]
    assert weights_of(first) == {"blue": 100, "green": 0}


def test_deploy_switched_blue_to_green_in_exactly_one_change():
    attempt = recorded("attempt_deploy_2_0_0")
    assert attempt["rc"] == 0, fatal_text(attempt)
    batches = change_batches()
    # One batch for the first install, one for the switch (and one for the rollback later).
    assert len(batches) == {"deployed": 2, "rolled_back": 3}[PHASE], batches
    switch = batches[1]
    # moto's recorder sees the strict double's translation of the guarded batch the module sends
    # (DELETE of each set as read + CREATE of the new one, tests/integration/route53 checks that form):
    # moto refuses a CREATE identical to one it has seen, so the double hands it one UPSERT per set.
    assert {c["action"] for c in switch} == {"UPSERT"}
    assert weights_of(switch) == {"blue": 0, "green": 100}
    result = next(iter(attempt["facts"]["switch_result"].values()))
    summary = (result["router"], result["switched"], result["previous"], result["live"])
    assert summary == ("route53", True, "blue", "green")
    assert [t["changed"] for t in result["router_timings"]] == [True]
    # No public URL here: the switch role verified by reading the record back.
    verification = " ".join(result["verification"].split())
    assert verification.startswith("record app.example.test A read back: live green"), verification
    assert result["reload_skew_s"] is None


def test_status_after_the_deploy_reports_green_live():
    status = recorded("attempt_status_deployed")
    assert status["rc"] == 0, fatal_text(status)
    lines = next(m["msg"] for m in status["messages"] if m["task"] == "Show the status")
    assert any(line.startswith("router localhost: live green") for line in lines), lines
    assert any(line.startswith("green : LIVE version 2.0.0") for line in lines), lines
    assert any(line.startswith("blue  : idle version 1.0.0") for line in lines), lines


@pytest.mark.parametrize("name", ["status_deployed", "status_rolled_back"])
def test_status_reports_the_weights(name):
    if name == "status_rolled_back" and PHASE != "rolled_back":
        pytest.skip("checked after side_effect")
    status = recorded(f"attempt_{name}")
    text = json.dumps(next(m["msg"] for m in status["messages"] if m["task"] == "Show the status"))
    live = "green" if name == "status_deployed" else "blue"
    idle = "blue" if live == "green" else "green"
    assert f'\\"{live}\\": 100' in text and f'\\"{idle}\\": 0' in text, text


@rolled_back_only
def test_rollback_switched_back_in_one_change_and_said_so():
    attempt = recorded("attempt_rollback")
    assert attempt["rc"] == 0, fatal_text(attempt)
    assert weights_of(change_batches()[2]) == {"blue": 100, "green": 0}
    reports = [" ".join(str(m["msg"]).split()) for m in attempt["messages"] if m["task"] == "Report the rollback"]
    assert reports and reports[0].startswith("Rolled back to blue (from green)"), reports
    status = recorded("attempt_status_rolled_back")
    lines = next(m["msg"] for m in status["messages"] if m["task"] == "Show the status")
    assert any(line.startswith("router localhost: live blue") for line in lines), lines


@pytest.mark.parametrize("colour", ["blue", "green"])
def test_each_colour_serves_its_release_at_the_address_in_the_record(colour):
    answers = fetch(APP_HOSTS[colour], 8081 if colour == "blue" else 8082, 2)
    assert {a["x-app-color"] for a in answers} == {colour}
    assert {a["x-app-version"] for a in answers} == {VERSIONS[colour]}
    assert APP_HOSTS[colour].interface("eth0").addresses[0] == ADDRESSES[colour]


def test_moto_is_this_scenarios_own_server():
    # The record is read from the moto_server prepare started (its pid is alive and is moto_server).
    cmdline = Path(f"/proc/{moto()['pid']}/cmdline").read_bytes()
    assert b"moto_server" in cmdline
    assert str(moto()["port"]).encode() in cmdline
    assert (ephemeral() / "moto.json").exists()
