# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rollback.yml after a contract migration, on the AWX lab (real nginx on loopback, ansible-runner)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.awx.conftest import Lab
from tests.integration.awx.test_runner_jobs import active_colour, front
from tests.lib.nginx import NGINX


@pytest.fixture
def lab(tmp_path):
    if shutil.which(NGINX) is None and not Path(NGINX).exists():
        pytest.fail(f"nginx is not installed ({NGINX})")
    box = Lab(tmp_path)
    yield box
    box.close()


def test_rollback_to_a_release_older_than_the_contract_is_refused_unless_forced(lab, tmp_path):
    # blue (live) runs 3.0.0, whose contract migration ran; green still runs 2.0.0.
    lab.record("blue", "3.0.0")
    lab.record("green", "2.0.0")
    front(lab)
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "migrations.json").write_text(json.dumps({
        "expand": {"3.0.0": {"at": "2026-11-29T10:00:00", "command": "expand", "rc": 0}},
        "contract": {"3.0.0": {"at": "2026-11-29T11:00:00", "command": "contract", "rc": 0}}}))
    before = lab.upstream_file.read_bytes()

    job = lab.run("playbooks/rollback.yml", {"bluegreen_migrate_state_dir": str(migrations)})
    assert job.status == "failed" and job.rc != 0
    messages = job.failure_messages()
    assert any("Rollback refused: green runs 2.0.0, older than 3.0.0 whose contract migration already ran" in m
               and "bluegreen_rollback_force" in m for m in messages), messages
    assert job.artifacts["bluegreen_failed"] is True and job.artifacts["bluegreen_switched"] is False
    assert lab.upstream_file.read_bytes() == before
    assert lab.colours() == {"blue": 20}

    forced = lab.run("playbooks/rollback.yml", {"bluegreen_migrate_state_dir": str(migrations),
                                                "bluegreen_rollback_force": True})
    assert (forced.status, forced.rc) == ("successful", 0), forced.stdout[-3000:]
    assert active_colour(lab.upstream_file) == "green"
    assert lab.colours() == {"green": 20}


def test_rollback_to_a_release_the_contract_kept_goes_ahead(lab, tmp_path):
    lab.record("blue", "3.0.0")
    lab.record("green", "3.0.0")
    front(lab)
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "migrations.json").write_text(json.dumps({
        "contract": {"3.0.0": {"at": "2026-11-29T11:00:00", "command": "contract", "rc": 0}}}))
    job = lab.run("playbooks/rollback.yml", {"bluegreen_migrate_state_dir": str(migrations)})
    assert (job.status, job.rc) == ("successful", 0), job.stdout[-3000:]
    assert active_colour(lab.upstream_file) == "green"


CONTRACT_KEYS = {"bluegreen_live_color", "bluegreen_previous_color", "bluegreen_migration", "bluegreen_failed",
                 "bluegreen_failure"}


def test_contract_playbook_waits_until_the_old_colour_is_retired(lab, tmp_path):
    # blue (live) runs 2.0.1; green still runs 1.0.0 and is healthy: a rollback could go there.
    lab.record("blue", "2.0.1")
    lab.record("green", "1.0.0")
    front(lab)
    migrations, marker = tmp_path / "migrations", tmp_path / "contracted"
    extra = {"bluegreen_migrate_state_dir": str(migrations), "bluegreen_migrate_contract": f"echo dropped >> {marker}"}

    job = lab.run("playbooks/contract.yml", extra)
    assert job.status == "failed" and job.rc != 0
    assert any("Contract migration for 2.0.1 refused, nothing was run: green still runs 1.0.0" in m
               for m in job.failure_messages()), job.failure_messages()
    assert set(job.artifacts) == CONTRACT_KEYS
    assert job.artifacts["bluegreen_failed"] is True and job.artifacts["bluegreen_migration"]["status"] == "refused"
    assert not marker.exists()

    # Retired: green's service is down, so nothing can roll back to it any more.
    lab.green.behaviour.status = 503
    job = lab.run("playbooks/contract.yml", extra)
    assert (job.status, job.rc) == ("successful", 0), job.stdout[-3000:]
    assert set(job.artifacts) == CONTRACT_KEYS
    assert job.artifacts["bluegreen_migration"]["status"] == "applied"
    assert job.artifacts["bluegreen_live_color"] == "blue" and job.artifacts["bluegreen_failed"] is False
    assert marker.read_text() == "dropped\n"

    # Once per release: a second run records "already applied" and does not run the command again.
    job = lab.run("playbooks/contract.yml", extra)
    assert (job.status, job.rc) == ("successful", 0), job.stdout[-3000:]
    assert job.artifacts["bluegreen_migration"]["status"] == "already applied"
    assert marker.read_text() == "dropped\n"
    assert list(json.loads((migrations / "migrations.json").read_text())["contract"]) == ["2.0.1"]


def test_retire_runs_the_contract_only_when_a_contract_command_is_given(lab, tmp_path):
    """retire.yml imports contract.yml, guarded by bluegreen_migrate_contract.

    The stop play needs systemd, which this host cannot give the lab: it gets no hosts here
    (bluegreen_app_hosts), so contract.yml reads no colour records and is told the release.
    That the contract refuses while an older release can serve is the test above.
    """
    lab.record("blue", "2.0.1")
    lab.record("green", "1.0.0")
    front(lab)
    migrations, marker = tmp_path / "migrations", tmp_path / "contracted"
    base = {"bluegreen_app_hosts": "no_such_group", "bluegreen_version": "2.0.1",
            "bluegreen_migrate_state_dir": str(migrations)}

    job = lab.run("playbooks/retire.yml", base)
    assert (job.status, job.rc) == ("successful", 0), job.stdout[-3000:]
    contract_tasks = [e for e in job.events if e.get("event") == "runner_on_ok"
                      and "migration" in e["event_data"].get("task", "").lower()]
    assert contract_tasks == []
    assert "bluegreen_migration" not in job.artifacts
    assert not marker.exists()

    job = lab.run("playbooks/retire.yml", {**base, "bluegreen_migrate_contract": f"echo dropped >> {marker}"})
    assert (job.status, job.rc) == ("successful", 0), job.stdout[-3000:]
    assert job.artifacts["bluegreen_migration"]["phase"] == "contract"
    assert job.artifacts["bluegreen_migration"]["release"] == "2.0.1"
    assert job.artifacts["bluegreen_migration"]["status"] == "applied"
    assert marker.read_text() == "dropped\n"
    assert list(json.loads((migrations / "migrations.json").read_text())["contract"]) == ["2.0.1"]
    # Retire and contract leave the traffic where it was.
    assert lab.colours() == {"blue": 20}
