# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Stage records, their checks at commit time and the commit instant (_common/staging.py)."""

from __future__ import annotations

import datetime
import hashlib
import json
import os

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common import staging
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError, SwitchError


class FakeModule:
    def atomic_move(self, src, dest, unsafe_writes=False):
        os.rename(src, dest)


def make_record(path, stage_id="s1", *, created=1000.0, ttl=60.0, base="b" * 64, candidate="text\n", noop=False):
    return staging.StageRecord(str(path), stage_id, created=created, expires=created + ttl, base_sha256=base,
                               candidate_sha256=staging.sha256_text(candidate), candidate=candidate, noop=noop,
                               details={"pid_file": "/run/nginx.pid"})


# --- hashes and times ----------------------------------------------------------------------


def test_sha256_text_of_text_and_bytes_agree_and_none_is_none():
    assert staging.sha256_text("héllo\n") == hashlib.sha256("héllo\n".encode()).hexdigest()
    assert staging.sha256_text(b"abc") == staging.sha256_text("abc")
    assert staging.sha256_text(None) is None


@pytest.mark.parametrize("value", [None, "", "   "])
def test_empty_commit_at_means_now(value):
    assert staging.parse_commit_at(value) is None


def test_commit_at_in_epoch_seconds_and_iso_utc():
    assert staging.parse_commit_at("1764444600.25") == 1764444600.25
    assert staging.parse_commit_at(1764444600) == 1764444600.0
    expected = datetime.datetime(2026, 11, 29, 19, 30, 0, 250000, tzinfo=datetime.timezone.utc).timestamp()
    assert staging.parse_commit_at("2026-11-29T19:30:00.250Z") == expected
    assert staging.parse_commit_at("2026-11-29T21:30:00.250+02:00") == expected


@pytest.mark.parametrize("value, words", [
    ("2026-11-29T19:30:00", "time zone"),
    ("tomorrow", "ISO 8601"),
    ("nan", "epoch seconds >= 0"),
    ("inf", "epoch seconds >= 0"),
    ("-5", "epoch seconds >= 0"),
])
def test_bad_commit_at_is_an_input_error_naming_the_option(value, words):
    with pytest.raises(InputError) as caught:
        staging.parse_commit_at(value)
    assert "commit_at" in str(caught.value) and words in str(caught.value)


def test_iso_ms_is_utc_with_milliseconds():
    epoch = datetime.datetime(2026, 11, 29, 19, 30, 0, 250000, tzinfo=datetime.timezone.utc).timestamp()
    assert staging.iso_ms(epoch) == "2026-11-29T19:30:00.250Z"
    assert staging.parse_commit_at(staging.iso_ms(epoch)) == epoch


def test_commit_at_far_ahead_is_refused():
    staging.check_commit_at(None, 100.0)
    staging.check_commit_at(100.0 + 600, 100.0)
    with pytest.raises(InputError, match="in the future"):
        staging.check_commit_at(100.0 + 601, 100.0)


class FakeClock:
    def __init__(self, now):
        self.now = now
        self.sleeps = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds if seconds else 0.0005


def test_sleep_until_waits_until_the_instant_and_reports_no_lateness():
    clock = FakeClock(100.0)
    late = staging.sleep_until(101.0, clock=clock.time, sleep=clock.sleep)
    assert clock.now >= 101.0
    assert late < 1.0
    # One long sleep to just before the instant, then short polls.
    assert clock.sleeps[0] == pytest.approx(1.0 - 0.002)


def test_sleep_until_a_past_instant_returns_how_late_at_once():
    clock = FakeClock(100.5)
    assert staging.sleep_until(100.0, clock=clock.time, sleep=clock.sleep) == 500.0
    assert clock.sleeps == []
    assert staging.sleep_until(None, clock=clock.time, sleep=clock.sleep) == 0.0


# --- the record ------------------------------------------------------------------------------


def test_record_round_trips_and_is_private(tmp_path):
    path = tmp_path / "shop.conf.stage"
    record = make_record(path)
    record.save(FakeModule())
    assert (os.stat(path).st_mode & 0o777) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["shop.conf.stage"], "no temp file left"
    loaded = staging.StageRecord.load(str(path))
    assert (loaded.stage_id, loaded.created, loaded.expires, loaded.base_sha256, loaded.candidate_sha256,
            loaded.candidate, loaded.noop, loaded.details) == (
        "s1", 1000.0, 1060.0, "b" * 64, staging.sha256_text("text\n"), "text\n", False, {"pid_file": "/run/nginx.pid"})
    assert loaded.expires_at == staging.iso_ms(1060.0)
    assert not loaded.expired(1059.9) and loaded.expired(1060.0)


def test_record_that_cannot_be_written_is_a_switch_error(tmp_path):
    record = make_record(tmp_path / "missing-dir" / "x.stage")
    with pytest.raises(SwitchError, match="nothing was staged"):
        record.save(FakeModule())


@pytest.mark.parametrize("content", ["not json", json.dumps(["a"]), json.dumps({"version": 99, "stage_id": "x"})])
def test_unreadable_or_foreign_record_counts_as_absent(tmp_path, content):
    path = tmp_path / "x.stage"
    path.write_text(content)
    assert staging.StageRecord.load(str(path)) is None
    assert staging.StageRecord.load(str(tmp_path / "none.stage")) is None


def test_discard_stale_removes_an_expired_record_with_a_warning(tmp_path):
    path = tmp_path / "x.stage"
    make_record(path, created=1000.0, ttl=10).save(FakeModule())
    warnings = []
    assert staging.discard_stale(str(path), now=1005.0, warnings=warnings).stage_id == "s1"
    assert path.exists() and warnings == []
    assert staging.discard_stale(str(path), now=1010.0, warnings=warnings) is None
    assert not path.exists()
    assert "s1" in warnings[0] and "expired" in warnings[0]


# --- claim_for_commit ------------------------------------------------------------------------


def test_claim_returns_a_valid_record(tmp_path):
    path = tmp_path / "x.stage"
    make_record(path).save(FakeModule())
    assert staging.claim_for_commit(str(path), "s1", "b" * 64, now=1001.0).candidate == "text\n"
    assert path.exists(), "claiming does not consume: the commit removes it when done"


def test_claim_without_record_names_the_stage(tmp_path):
    with pytest.raises(SwitchError, match="no staged change with stage_id s1"):
        staging.claim_for_commit(str(tmp_path / "x.stage"), "s1", "b" * 64, now=1001.0)


def test_claim_of_a_superseded_stage_leaves_the_newer_record(tmp_path):
    path = tmp_path / "x.stage"
    make_record(path, "s2").save(FakeModule())
    with pytest.raises(SwitchError, match="superseded"):
        staging.claim_for_commit(str(path), "s1", "b" * 64, now=1001.0)
    assert staging.StageRecord.load(str(path)).stage_id == "s2"


@pytest.mark.parametrize("now, base, words", [
    (1060.0, "b" * 64, "expired"),
    (1001.0, "c" * 64, "state changed"),
])
def test_claim_removes_a_stage_that_can_never_commit(tmp_path, now, base, words):
    path = tmp_path / "x.stage"
    make_record(path).save(FakeModule())
    with pytest.raises(SwitchError, match=words):
        staging.claim_for_commit(str(path), "s1", base, now=now, dry_run=True)
    assert path.exists(), "dry_run (check mode) removes nothing"
    with pytest.raises(SwitchError, match=words):
        staging.claim_for_commit(str(path), "s1", base, now=now)
    assert not path.exists()


def test_stage_path_is_next_to_the_other_state_files():
    assert staging.stage_path("/var/lib/switchyard/nginx/etc/nginx/conf.d/x.conf") == (
        "/var/lib/switchyard/nginx/etc/nginx/conf.d/x.conf.stage")


# --- options shared by the two-phase modules ------------------------------------------------------


def params(**overrides):
    base = {"phase": "apply", "stage_id": None, "stage_ttl": 60.0, "commit_at": None}
    base.update(overrides)
    return base


def test_argument_spec_and_rules():
    spec = staging.two_phase_argument_spec()
    assert spec["phase"] == {"type": "str", "default": "apply", "choices": ["apply", "stage", "commit", "abort"]}
    assert spec["stage_ttl"]["default"] == 60.0 and spec["commit_at"] == {"type": "str"}
    spec["phase"]["choices"].append("x")
    assert "x" not in staging.two_phase_argument_spec()["phase"]["choices"], "fresh copies"
    assert {rule[1] for rule in staging.TWO_PHASE_REQUIRED_IF} == {"stage", "commit", "abort"}
    assert all(rule[2] == ("stage_id",) for rule in staging.TWO_PHASE_REQUIRED_IF)


@pytest.mark.parametrize("overrides, words", [
    ({"phase": "stage", "stage_id": "s", "commit_at": "1"}, "commit_at is only used with phase=commit"),
    ({"phase": "apply", "commit_at": "1"}, "commit_at is only used with phase=commit"),
    ({"phase": "stage", "stage_id": "s", "stage_ttl": 0}, "stage_ttl=0"),
    ({"phase": "commit", "stage_id": "  "}, "non-empty stage_id"),
])
def test_phase_options_that_do_not_fit_are_refused(overrides, words):
    with pytest.raises(InputError, match=words):
        staging.check_phase_options(params(**overrides))


def test_phase_options_that_fit_pass():
    staging.check_phase_options(params())
    staging.check_phase_options(params(phase="commit", stage_id="s", commit_at="1"))
    staging.check_phase_options(params(phase="commit", stage_id="s", commit_at=""))


def test_phase_result_keys():
    assert staging.phase_result("apply", "ignored") == {
        "staged": False, "stage_id": None, "stage_expires_at": None, "commit_at": None, "committed_at": None,
        "commit_late_ms": None}
    assert staging.phase_result("stage", "s1")["stage_id"] == "s1"
