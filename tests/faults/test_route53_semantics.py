# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""route53_switch against the strict Route53 double (issue 15): concurrency, ambiguous answers, credentials.

Every module run is a real process talking HTTP to the double (tests/lib/route53_double.py), which
checks each batch the way AWS does (exact-match DELETE, all or nothing, one batch at a time) in front
of moto_server and injects the faults. Rounds: reduced by default, full with SWITCHYARD_FAULT_FULL=1.
"""

from __future__ import annotations

import os
import threading
import time

import boto3
import pytest

from tests.lib.moto import DUMMY_KEY, DUMMY_SECRET

from .conftest import FULL, run_module_process

TARGETS = {"blue": {"values": ["192.0.2.10"]}, "green": {"values": ["192.0.2.20"]}}
CONCURRENT_ROUNDS = int(os.environ.get("SWITCHYARD_FAULT_R53_ROUNDS", "30" if FULL else "4"))
AMBIGUOUS_ROUNDS = int(os.environ.get("SWITCHYARD_FAULT_R53_ROUNDS", "10" if FULL else "2"))
WANTED = ({"blue": 100, "green": 0}, {"blue": 0, "green": 100})


class Zone:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.double = endpoint.double
        # Arranging state goes straight to moto; the module always goes through the double.
        self.client = boto3.client("route53", endpoint_url=endpoint.moto_url, region_name="us-east-1",
                                   aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_SECRET)
        self.zone_id = self.client.create_hosted_zone(
            Name="example.com", CallerReference=f"semantics-{time.monotonic_ns()}")["HostedZone"]["Id"].split("/")[-1]

    def args(self, **overrides) -> dict:
        args = {"zone": "example.com", "record": "api.example.com", "type": "A", "targets": TARGETS,
                "wait_timeout": 30, "max_attempts": 3, "endpoint_url": self.endpoint.url,
                "access_key": DUMMY_KEY, "secret_key": DUMMY_SECRET}
        args.update(overrides)
        return {k: v for k, v in args.items() if v is not None}

    def set_weights(self, weights: dict) -> None:
        self.client.change_resource_record_sets(HostedZoneId=self.zone_id, ChangeBatch={"Changes": [
            {"Action": "UPSERT", "ResourceRecordSet": {
                "Name": "api.example.com.", "Type": "A", "SetIdentifier": colour, "Weight": weight, "TTL": 60,
                "ResourceRecords": [{"Value": TARGETS[colour]["values"][0]}]}}
            for colour, weight in weights.items()]})

    def weights(self) -> dict:
        sets = self.client.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]
        return {r["SetIdentifier"]: r["Weight"] for r in sets if r.get("SetIdentifier")}


@pytest.fixture
def zone(moto_server):
    if moto_server.double is None:
        pytest.skip("needs the strict Route53 double (SWITCHYARD_ROUTE53_DOUBLE is off)")
    moto_server.reset()
    return Zone(moto_server)


def run_together(*calls):
    """Start every module run at once; results in call order."""
    results = [None] * len(calls)

    def run(index, name, args):
        results[index] = run_module_process(name, args)

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return results


# --------------------------------------------------------------------------- item 2: concurrency


@pytest.mark.parametrize("retry_on_conflict", [True, False])
def test_concurrent_opposite_switches_never_mix(zone, fault_log, retry_on_conflict):
    fault_log.set("route53_switch: Route53 semantics",
                  f"promote (active green) and rollback (active blue) started together from 50/50 and 100/100, "
                  f"both planning from the same read (double holds both batches), retry_on_conflict="
                  f"{str(retry_on_conflict).lower()}",
                  "ends 100/0 or 0/100 every round, never all 0 or a mix; the loser's batch is refused whole "
                  "and it re-plans (or fails naming the live state)")
    outcomes = {}
    for round_no in range(CONCURRENT_ROUNDS):
        start = {"blue": 50, "green": 50} if round_no % 2 == 0 else {"blue": 100, "green": 100}
        zone.set_weights(start)
        zone.double.hold_changes(2)
        refused_before = len(zone.double.refused)
        promote, rollback = run_together(
            ("route53_switch", zone.args(active="green", retry_on_conflict=retry_on_conflict)),
            ("route53_switch", zone.args(active="blue", retry_on_conflict=retry_on_conflict)))
        final = zone.weights()
        fault_log.runs += 1
        key = f"{start['blue']}/{start['green']} -> {final['blue']}/{final['green']}"
        outcomes[key] = outcomes.get(key, 0) + 1
        fault_log.measured["outcomes"] = outcomes
        assert final in WANTED, (round_no, start, final, promote, rollback)
        assert final != {"blue": 0, "green": 0}
        # Both planned from the same read, so exactly one guarded batch was refused.
        assert len(zone.double.refused) - refused_before == 1, zone.double.refused[refused_before:]
        assert "do not match the current values" in " ".join(zone.double.refused[-1])
        if retry_on_conflict:
            assert not promote.failed and not rollback.failed, (promote, rollback)
            loser = next(r for r in (promote, rollback) if r.get("warnings"))
            assert "planned again from the live record" in str(loser["warnings"]), loser
            assert final == loser["weights"]  # the re-planned run wrote last
        else:
            failed = [r for r in (promote, rollback) if r.failed]
            assert len(failed) == 1, (promote, rollback)
            assert failed[0]["changed"] is False and "nothing of it was applied" in failed[0]["msg"], failed[0]
            winner = next(r for r in (promote, rollback) if not r.failed)
            assert final == winner["weights"]
            fault_log.count("conflicts_reported")


def test_blind_upserts_end_all_zero_control(zone, fault_log):
    """Control: the same interleaving with unguarded UPSERTs of the changed set only reaches all-zero.

    This is what route53_switch sent before issue 15; it shows the double and the gate do produce the
    hazard the guarded batch prevents.
    """
    fault_log.set("route53_switch: Route53 semantics",
                  "control: two UPSERT-only batches (blue=0 and green=0) from 100/100 through the same gate",
                  "ends all 0, the state route53_switch refuses as input: blind UPSERT is unsafe")
    zone.set_weights({"blue": 100, "green": 100})
    zone.double.hold_changes(2)
    client = boto3.client("route53", endpoint_url=zone.endpoint.url, region_name="us-east-1",
                          aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_SECRET)

    def upsert(colour):
        client.change_resource_record_sets(HostedZoneId=zone.zone_id, ChangeBatch={"Changes": [
            {"Action": "UPSERT", "ResourceRecordSet": {
                "Name": "api.example.com.", "Type": "A", "SetIdentifier": colour, "Weight": 0, "TTL": 60,
                "ResourceRecords": [{"Value": TARGETS[colour]["values"][0]}]}}]})

    threads = [threading.Thread(target=upsert, args=(c,)) for c in ("blue", "green")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    fault_log.runs = 1
    fault_log.measured["final"] = zone.weights()
    assert zone.weights() == {"blue": 0, "green": 0}


# --------------------------------------------------------------------------- item 3: ambiguous answers


@pytest.mark.parametrize("fault", ["apply_then_drop", "hang_then_drop"])
def test_applied_then_answer_lost_reports_the_truth(zone, fault_log, fault):
    fault_log.set("route53_switch: Route53 semantics",
                  f"ChangeResourceRecordSets applied, then its answer lost ({fault}); botocore retries and the "
                  "retry is refused (the guarded DELETE no longer matches)",
                  "reads the record back: changed=true, a warning that the answer was ambiguous, live weights "
                  "as asked; never 'applied none of it'")
    for _round in range(AMBIGUOUS_ROUNDS):
        zone.set_weights({"blue": 100, "green": 0})
        seen_before = zone.double.seen.get("ChangeResourceRecordSets", 0)
        zone.double.inject("ChangeResourceRecordSets", fault)
        result = run_module_process("route53_switch", zone.args(active="green"))
        fault_log.runs += 1
        fault_log.measured["last_warnings"] = result.get("warnings")
        assert not result.get("_no_json"), result.stderr
        assert not result.failed, result
        assert result["changed"] is True
        assert zone.weights() == {"blue": 0, "green": 100}
        assert "ambiguous" in str(result.get("warnings")), result
        assert result["propagation"]["based_on"] == "read_back"
        # The batch went out twice (botocore's retry) and the second was refused whole by the double.
        assert zone.double.seen["ChangeResourceRecordSets"] - seen_before == 2
        assert "do not match the current values" in " ".join(zone.double.refused[-1])


def test_answer_lost_before_apply_is_retried(zone, fault_log):
    fault_log.set("route53_switch: Route53 semantics", "connection dropped before the batch was applied",
                  "botocore retries, the retry applies the batch; success without a warning")
    zone.set_weights({"blue": 100, "green": 0})
    zone.double.inject("ChangeResourceRecordSets", "drop")
    result = run_module_process("route53_switch", zone.args(active="green"))
    fault_log.runs = 1
    assert not result.failed, result
    assert result["changed"] is True and result["change_id"] and not result.get("warnings")
    assert zone.weights() == {"blue": 0, "green": 100}


def test_refused_batch_reports_live_state_and_aws_messages(zone, fault_log):
    fault_log.set("route53_switch: Route53 semantics", "every attempt throttled beyond max_attempts",
                  "fails with changed=false; the record read back is reported unchanged")
    zone.set_weights({"blue": 100, "green": 0})
    zone.double.inject("ChangeResourceRecordSets", *["Throttling"] * 10)
    result = run_module_process("route53_switch", zone.args(active="green", max_attempts=2))
    fault_log.runs = 1
    fault_log.measured["msg"] = result.get("msg")
    assert result.failed and result["changed"] is False, result
    assert "read back and is unchanged" in result["msg"] and "blue=100" in result["msg"], result["msg"]
    assert zone.weights() == {"blue": 100, "green": 0}


# --------------------------------------------------------------------------- item 1: credentials


@pytest.fixture
def profile_files(tmp_path):
    credentials = tmp_path / "credentials"
    credentials.write_text("[prod]\naws_access_key_id = PROFILEKEYPROD\naws_secret_access_key = profile-secret\n")
    config = tmp_path / "config"
    config.write_text("[profile prod]\nregion = us-east-1\n")
    return {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": str(config),
            "AWS_EC2_METADATA_DISABLED": "true"}


def test_profile_with_environment_keys_signs_with_the_profile(zone, fault_log, profile_files):
    fault_log.set("route53_switch: Route53 semantics",
                  "profile: prod given while AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN of another "
                  "identity are in the environment (CI runner, AWX credential)",
                  "every request is signed with the profile's key, none with the environment's, and no token")
    env = {**profile_files, "AWS_ACCESS_KEY_ID": "ENVKEYOTHERACCOUNT", "AWS_SECRET_ACCESS_KEY": "env-secret",
           "AWS_SESSION_TOKEN": "stale-token"}
    args = {k: v for k, v in zone.args(active="green").items() if k not in ("access_key", "secret_key")}
    result = run_module_process("route53_switch", {**args, "profile": "prod"}, env=env)
    fault_log.runs = 1
    signers = {(key, token) for _op, key, token in zone.double.signers}
    fault_log.measured["signers"] = sorted(f"{k}{' +token' if t else ''}" for k, t in signers)
    assert not result.failed, result
    assert signers == {("PROFILEKEYPROD", False)}, signers
    assert zone.weights() == {"blue": 0, "green": 100}


def test_explicit_keys_ignore_a_stale_environment_token(zone, fault_log):
    fault_log.set("route53_switch: Route53 semantics", "access_key/secret_key given, stale AWS_SESSION_TOKEN in env",
                  "requests signed with the given key and no session token")
    result = run_module_process("route53_switch", zone.args(active="green"),
                                env={"AWS_SESSION_TOKEN": "stale-token"})
    fault_log.runs = 1
    assert not result.failed, result
    assert {(key, token) for _op, key, token in zone.double.signers} == {(DUMMY_KEY, False)}


def test_profile_and_keys_together_are_refused(zone, fault_log, profile_files):
    fault_log.set("route53_switch: Route53 semantics", "profile and access_key/secret_key both given",
                  "refused before any API call, naming both options")
    result = run_module_process("route53_switch", {**zone.args(active="green"), "profile": "prod"},
                                env=profile_files)
    fault_log.runs = 1
    fault_log.measured["msg"] = result.get("msg")
    assert result.failed and "profile" in result["msg"] and "access_key" in result["msg"], result
    assert zone.double.seen == {}
