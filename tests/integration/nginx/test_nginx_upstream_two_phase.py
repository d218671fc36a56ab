# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""nginx_upstream's two-phase mode (phase=stage/commit/abort, issue #17) against a real nginx on loopback.

Each test reads the traffic through nginx (X-App-Color), the managed file's bytes and nginx's
worker pids, so "nothing changed" means the file, the running workers and the answers.
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common import staging
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.switch import state_base
from tests.lib.files import digest
from tests.lib.modules import ansible_env, module_command, module_input
from tests.lib.nginx import LoopbackNginx

from .conftest import UPSTREAM, Lab

GREEN = {"active": "green", "preview": True}


def record_path(lab: Lab) -> str:
    return staging.stage_path(state_base(lab.state_dir, str(lab.path)))


def marker_path(lab: Lab) -> str:
    return state_base(lab.state_dir, str(lab.path)) + ".reload-pending"


def temp_files(lab: Lab) -> list[str]:
    return glob.glob(os.path.join(str(lab.path.parent), f".{lab.path.name}.*.tmp"))


def warned(result, *words) -> bool:
    """ansible-core 2.19 returns warnings as structured summaries: look for the words anywhere in one."""
    return any(all(word in str(warning) for word in words) for warning in result.get("warnings", []))


def stage(lab: Lab, stage_id="s1", **args):
    return lab.switch(phase="stage", stage_id=stage_id, **dict(GREEN, **args))


def commit(lab: Lab, stage_id="s1", commit_at=None, **args):
    return lab.switch(phase="commit", stage_id=stage_id, commit_at=commit_at, **dict(GREEN, **args))


def parse_iso(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def assert_untouched(lab: Lab, before_digest, workers):
    assert digest(lab.path) == before_digest
    assert lab.nginx.worker_pids() == workers
    assert lab.live() == {"blue": 20}


def test_stage_tests_without_applying_then_commit_applies_at_the_instant(lab: Lab):
    before_digest, workers = digest(lab.path), lab.nginx.worker_pids()
    before_text = lab.path.read_text()
    staged = lab.switch(phase="stage", stage_id="s1", diff=True, **GREEN)
    assert not staged.failed, staged
    assert staged["staged"] is True and staged["changed"] is False and staged["reloaded"] is False
    assert staged["stage_id"] == "s1" and staged["stage_expires_at"].endswith("Z")
    assert staged["diff"]["before"] == before_text
    assert "server " + lab.backends["green"].address in staged["diff"]["after"].split("upstream shop {")[1]
    assert isinstance(staged["timings"]["validate_ms"], int)
    # The file is back byte for byte, nginx was not reloaded, traffic is still blue.
    assert_untouched(lab, before_digest, workers)
    assert not os.path.exists(marker_path(lab))
    record = staging.StageRecord.load(record_path(lab))
    assert record.stage_id == "s1" and not record.noop
    assert record.base_sha256 == before_digest
    assert record.candidate == staged["diff"]["after"]

    commit_at = time.time() + 1.0
    committed = commit(lab, commit_at=f"{commit_at:.3f}")
    assert not committed.failed, committed
    assert committed["changed"] and committed["reloaded"] and committed["drained"]
    assert committed["staged"] is False
    assert committed["commit_at"] == staging.iso_ms(float(f"{commit_at:.3f}"))
    # It did not apply before the agreed instant.
    assert parse_iso(committed["committed_at"]) >= parse_iso(committed["commit_at"])
    assert parse_iso(committed["reloaded_at"]) >= parse_iso(committed["committed_at"])
    assert committed["commit_late_ms"] >= 0
    assert (committed["active"], committed["previous_active"]) == ("green", "blue")
    # The committed bytes are the ones the stage tested.
    assert lab.path.read_text() == record.candidate
    assert workers.isdisjoint(lab.nginx.worker_pids())
    assert lab.live() == {"green": 20}
    assert lab.preview() == {"blue": 10}
    assert not os.path.exists(record_path(lab)) and not os.path.exists(marker_path(lab))
    assert committed["backup_file"] and Path(committed["backup_file"]).read_text() == before_text
    assert temp_files(lab) == []


def test_commit_with_an_iso_instant_and_without_one(lab: Lab):
    assert stage(lab).get("staged")
    instant = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=0.5)
    text = instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    result = commit(lab, commit_at=text)
    assert not result.failed, result
    assert result["commit_at"] == text and result["reloaded"]
    assert lab.live() == {"green": 20}
    # Empty commit_at: now.
    assert stage(lab, "s2", active="blue").get("staged")
    result = commit(lab, "s2", active="blue")
    assert not result.failed, result
    assert result["commit_at"] is None and result["commit_late_ms"] == 0
    assert lab.live() == {"blue": 20}


def test_stage_and_commit_twice_is_idempotent(lab: Lab):
    assert stage(lab)["staged"]
    assert commit(lab)["changed"]
    workers, before = lab.nginx.worker_pids(), digest(lab.path)
    again = stage(lab, "s2")
    assert not again.failed and again["staged"] and not again["changed"]
    assert staging.StageRecord.load(record_path(lab)).noop
    second = commit(lab, "s2")
    assert not second.failed, second
    assert second["changed"] is False and second["reloaded"] is False and second["committed_at"] is None
    assert digest(lab.path) == before and lab.nginx.worker_pids() == workers
    assert not os.path.exists(record_path(lab))
    assert lab.live() == {"green": 20}


def test_check_mode_reports_the_diff_and_writes_nothing(lab: Lab):
    before_digest, workers = digest(lab.path), lab.nginx.worker_pids()
    result = lab.switch(check_mode=True, diff=True, phase="stage", stage_id="s1", **GREEN)
    assert not result.failed, result
    assert result["staged"] is False and result["changed"] is False
    assert "server " + lab.backends["green"].address in result["diff"]["after"].split("upstream shop {")[1]
    assert not os.path.exists(record_path(lab))
    assert_untouched(lab, before_digest, workers)
    # A check-mode commit checks the real stage without consuming it.
    assert stage(lab)["staged"]
    predicted = lab.switch(check_mode=True, phase="commit", stage_id="s1", **GREEN)
    assert not predicted.failed and predicted["changed"] is True
    assert os.path.exists(record_path(lab))
    assert_untouched(lab, before_digest, workers)


def test_stage_that_nginx_rejects_fails_with_its_lines_and_stages_nothing(lab: Lab):
    before_digest, workers = digest(lab.path), lab.nginx.worker_pids()
    pools = {"blue": [lab.backends["blue"].address], "green": ["no-such-host.invalid:8080"]}
    result = lab.switch(phase="stage", stage_id="s1", pools=pools, active="green")
    assert result.failed
    assert "host not found" in result["msg"] and "nothing was staged" in result["msg"]
    assert any("host not found" in line for line in result["nginx_errors"])
    assert not os.path.exists(record_path(lab)) and not os.path.exists(marker_path(lab))
    assert lab.nginx.test_config().returncode == 0
    assert_untouched(lab, before_digest, workers)


def test_expired_stage_is_refused_and_removed(lab: Lab):
    before_digest, workers = digest(lab.path), lab.nginx.worker_pids()
    assert stage(lab, stage_ttl=0.3)["staged"]
    time.sleep(0.5)
    result = commit(lab)
    assert result.failed
    assert "expired" in result["msg"]
    assert not os.path.exists(record_path(lab))
    assert_untouched(lab, before_digest, workers)


def test_a_later_stage_or_apply_supersedes_a_stage(lab: Lab):
    before_digest, workers = digest(lab.path), lab.nginx.worker_pids()
    assert stage(lab, "old")["staged"]
    newer = stage(lab, "new", active="blue", weights=None)
    assert newer["staged"] and warned(newer, "superseded", "change old "), newer
    refused = commit(lab, "old")
    assert refused.failed and "superseded" in refused["msg"]
    assert staging.StageRecord.load(record_path(lab)).stage_id == "new", "the newer stage is left alone"
    assert_untouched(lab, before_digest, workers)
    # An apply wins over a pending stage too.
    applied = lab.switch(**GREEN)
    assert applied["changed"] and warned(applied, "superseded", "change new ")
    assert not os.path.exists(record_path(lab))
    refused = commit(lab, "new", active="blue")
    assert refused.failed and "no staged change" in refused["msg"]
    assert lab.live() == {"green": 20}


def test_hand_edit_between_stage_and_commit_is_refused(lab: Lab):
    workers = lab.nginx.worker_pids()
    assert stage(lab)["staged"]
    with open(lab.path, "a") as handle:
        handle.write("# edited by hand\n")
    edited = digest(lab.path)
    result = commit(lab)
    assert result.failed and "state changed" in result["msg"]
    assert digest(lab.path) == edited
    assert not os.path.exists(record_path(lab))
    assert lab.nginx.worker_pids() == workers and lab.live() == {"blue": 20}


def test_commit_with_other_arguments_is_refused(lab: Lab):
    before_digest, workers = digest(lab.path), lab.nginx.worker_pids()
    assert stage(lab)["staged"]
    result = lab.switch(phase="commit", stage_id="s1", weights={"blue": 50, "green": 50}, preview=True,
                        preview_color="green")
    assert result.failed and "same arguments" in result["msg"]
    assert not os.path.exists(record_path(lab))
    assert_untouched(lab, before_digest, workers)


def test_reload_that_fails_at_commit_puts_the_previous_file_back(lab: Lab):
    before_digest = digest(lab.path)
    assert stage(lab)["staged"]
    # After the stage someone breaks another file: the master refuses the whole configuration at reload.
    broken = lab.nginx.sites / "broken.conf"
    broken.write_text("server { listen 127.0.0.1:1; bogus_directive on; }\n")
    try:
        result = commit(lab, reload_timeout=1)
        assert result.failed
        assert "back on its previous file" in result["msg"], result["msg"]
        # The reason, as nginx -t tells it for the files the master refused.
        assert any("bogus_directive" in line for line in result["nginx_errors"]), result["nginx_errors"]
        assert digest(lab.path) == before_digest
        assert not os.path.exists(record_path(lab)) and not os.path.exists(marker_path(lab))
        assert lab.live() == {"blue": 20}
    finally:
        broken.unlink()
    # The next fleet switch works.
    assert stage(lab, "s2")["staged"]
    assert not commit(lab, "s2").failed
    assert lab.live() == {"green": 20}


def test_reload_command_that_does_not_reload_is_undone_at_commit(lab: Lab):
    before_digest = digest(lab.path)
    assert stage(lab, reload_command=["/bin/true"])["staged"]
    result = commit(lab, reload_command=["/bin/true"], reload_timeout=0.5)
    assert result.failed and "back on its previous file" in result["msg"]
    assert digest(lab.path) == before_digest
    assert lab.live() == {"blue": 20}


def test_nginx_stopped_after_stage_refuses_the_commit(lab: Lab):
    before_digest = digest(lab.path)
    assert stage(lab)["staged"]
    lab.nginx.stop()
    result = commit(lab)
    assert result.failed and "nginx is not running" in result["msg"] and "not committed" in result["msg"]
    assert digest(lab.path) == before_digest
    assert not os.path.exists(record_path(lab)) and temp_files(lab) == []


def test_abort_removes_only_its_own_stage(lab: Lab):
    before_digest, workers = digest(lab.path), lab.nginx.worker_pids()
    assert stage(lab)["staged"]
    other = lab.switch(phase="abort", stage_id="other", **GREEN)
    assert not other.failed and other["changed"] is False
    assert os.path.exists(record_path(lab))
    aborted = lab.switch(phase="abort", stage_id="s1", **GREEN)
    assert not aborted.failed and aborted["changed"] is True
    assert aborted["active"] == "blue", "abort reports what the file holds"
    assert not os.path.exists(record_path(lab))
    assert lab.switch(phase="abort", stage_id="s1", **GREEN)["changed"] is False
    assert commit(lab).failed
    assert_untouched(lab, before_digest, workers)


def test_kill_during_the_wait_before_commit_changes_nothing(lab: Lab):
    before_digest, workers = digest(lab.path), lab.nginx.worker_pids()
    assert stage(lab)["staged"]
    args = lab.args(phase="commit", stage_id="s1", commit_at=f"{time.time() + 30:.3f}", **GREEN)
    proc = subprocess.Popen(module_command("nginx_upstream"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ansible_env())
    proc.stdin.write(module_input(args))
    proc.stdin.close()
    # The commit is asleep once its candidate file is prepared next to the managed file.
    deadline = time.monotonic() + 20
    while not temp_files(lab) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert temp_files(lab) and proc.poll() is None, proc.stderr.read() if proc.poll() is not None else "no temp file"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    assert_untouched(lab, before_digest, workers)
    # What it leaves: the marker (the next run reloads), its temp file (the next lock removes it) and the stage
    # record, which expires; no lock is left (fcntl locks die with the process): a run with lock_timeout=1 gets it.
    assert os.path.exists(marker_path(lab))
    assert os.path.exists(record_path(lab))
    again = stage(lab, "s2", lock_timeout=1)
    assert not again.failed and again["staged"], again
    assert temp_files(lab) == []
    result = commit(lab, "s2", lock_timeout=1)
    assert not result.failed and result["reloaded"], result
    assert lab.live() == {"green": 20}
    assert not os.path.exists(marker_path(lab)) and not os.path.exists(record_path(lab))


@pytest.mark.parametrize("args, message", [
    ({"phase": "stage", "stage_id": "s1", "commit_at": "1"}, "commit_at is only used with phase=commit"),
    ({"phase": "commit"}, "stage_id"),
    ({"phase": "commit", "stage_id": "s1", "commit_at": "2026-11-29T19:30:00"}, "time zone"),
    ({"phase": "commit", "stage_id": "s1", "commit_at": "nan"}, "epoch seconds"),
    ({"phase": "commit", "stage_id": "s1", "commit_at": str(time.time() + 3600)}, "in the future"),
    ({"phase": "stage", "stage_id": "s1", "stage_ttl": 0}, "stage_ttl"),
    ({"phase": "stage", "stage_id": "s1", "adopt": True}, "adopt"),
    ({"phase": "stage", "stage_id": "s1", "state": "absent", "pools": None, "active": None}, "state=absent"),
])
def test_bad_two_phase_input_is_refused_and_changes_nothing(lab: Lab, args, message):
    before_digest, workers = digest(lab.path), lab.nginx.worker_pids()
    merged = dict(GREEN, **args)
    result = lab.switch(**merged)
    assert result.failed and message in result["msg"], json.dumps(dict(result))[:400]
    assert not os.path.exists(record_path(lab))
    assert_untouched(lab, before_digest, workers)


def test_three_load_balancers_commit_at_one_instant(tmp_path, backends, record_property):
    """Three nginx instances (a small fleet on loopback) staged one by one, committed in parallel at one instant."""
    labs = []
    try:
        for index in range(3):
            nginx = LoopbackNginx(tmp_path / f"lb{index}")
            nginx.add_proxy_site(UPSTREAM)
            nginx.add_proxy_site(f"{UPSTREAM}_preview")
            lab = Lab(nginx, backends)
            assert not lab.switch(active="blue", preview=True, reload=False).failed
            nginx.start()
            nginx.wait_for_workers()
            labs.append(lab)
        workers = [lab.nginx.worker_pids() for lab in labs]
        for lab in labs:
            assert stage(lab, "fleet-1")["staged"]
            assert lab.live() == {"blue": 20}
        commit_at = f"{time.time() + 2.0:.3f}"
        procs = []
        for lab in labs:
            proc = subprocess.Popen(module_command("nginx_upstream"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=ansible_env())
            # Every host gets its arguments at once, as Ansible's forks would send them.
            proc.stdin.write(module_input(lab.args(phase="commit", stage_id="fleet-1", commit_at=commit_at, **GREEN)))
            proc.stdin.close()
            procs.append(proc)
        results = []
        for proc in procs:
            out, err = proc.stdout.read(), proc.stderr.read()
            proc.wait(timeout=60)
            proc.stdout.close()
            proc.stderr.close()
            assert out, err
            results.append(json.loads(out))
        for lab, result, before in zip(labs, results, workers, strict=True):
            assert not result.get("failed"), result
            assert result["reloaded"] and result["commit_at"] == staging.iso_ms(float(commit_at))
            assert parse_iso(result["committed_at"]) >= float(commit_at)
            assert before.isdisjoint(lab.nginx.worker_pids())
            assert lab.live() == {"green": 20}
        # Measured, not asserted (no timing assertions): the spread of the instants the hosts report.
        committed = [parse_iso(result["committed_at"]) for result in results]
        reloaded = [parse_iso(result["reloaded_at"]) for result in results]
        record_property("committed_at_spread_ms", round((max(committed) - min(committed)) * 1000, 1))
        record_property("reloaded_at_spread_ms", round((max(reloaded) - min(reloaded)) * 1000, 1))
        record_property("commit_late_ms", [result["commit_late_ms"] for result in results])
    finally:
        for lab in labs:
            lab.nginx.stop()
