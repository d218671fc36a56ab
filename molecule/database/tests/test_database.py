# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""database: deploy.yml, retire.yml and contract.yml with real migrations on a shared PostgreSQL.

Looks at the recorded runs (attempt_*.json: rc, failures, set_stats), the schema in the database
container, the migration record on green and what the load balancer serves now.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from molecule_checks import assert_served_by, fatal_text, fetch, recorded

LB = testinfra.get_host("podman://sy-database-lb")
BLUE = testinfra.get_host("podman://sy-database-blue")
GREEN = testinfra.get_host("podman://sy-database-green")
DB = testinfra.get_host("podman://sy-database-db")


def orders_columns() -> list[str]:
    out = DB.check_output(
        "su postgres -c \"psql -X -tA -d shop -c \\\"SELECT column_name FROM information_schema.columns"
        " WHERE table_name = 'orders' ORDER BY ordinal_position\\\"\"")
    return out.split()


def test_destructive_expand_is_refused_before_anything_runs_or_switches():
    attempt = recorded("attempt_bad_expand")
    assert attempt["rc"] != 0
    text = fatal_text(attempt)
    assert "Expand migration for 2.0.1 refused" in text
    assert "2.0.1-expand.sql" in text
    assert "DROP COLUMN" in text.upper()
    stats = attempt["custom_stats"]
    assert stats["bluegreen_failed"] is True
    assert stats["bluegreen_migration"]["phase"] == "expand"
    assert stats["bluegreen_migration"]["release"] == "2.0.1"
    assert stats["bluegreen_migration"]["status"] == "refused"
    assert stats["bluegreen_live_color"] == "blue"
    # Nothing switched: no report of a live release, the load balancer untouched by this run.
    assert not any("is live on" in str(m["msg"]) for m in attempt["messages"])
    assert attempt["stats"]["sy-database-lb"]["changed"] == 0


def test_blue_1_0_0_kept_serving_on_its_schema_after_the_refusal():
    # 20 requests to the live listener's home page, which runs 1.0.0's query on the database.
    snapshot = recorded("snapshot_after_bad_expand")["sy-database-lb"]
    assert snapshot["active"] == "blue"
    assert snapshot["colors"] == {"blue": 20}
    assert {str(code): count for code, count in snapshot["statuses"].items()} == {"200": 20}


def test_expand_migration_ran_then_the_switch():
    attempt = recorded("attempt_expand")
    assert attempt["rc"] == 0, fatal_text(attempt)
    stats = attempt["custom_stats"]
    assert stats["bluegreen_failed"] is False
    assert stats["bluegreen_live_color"] == "green"
    assert stats["bluegreen_previous_color"] == "blue"
    migration = stats["bluegreen_migration"]
    outcome = (migration["phase"], migration["release"], migration["status"], migration["rc"])
    assert outcome == ("expand", "2.0.0", "applied", 0)
    assert migration["host"] == "sy-database-green"
    assert "ADD COLUMN" in migration["command"]


def test_contract_is_refused_while_the_old_colour_can_be_rolled_back_to():
    attempt = recorded("attempt_contract_too_early")
    assert attempt["rc"] != 0
    text = fatal_text(attempt)
    assert "Contract migration for 2.0.0 refused" in text
    assert "blue still runs 1.0.0" in text


def test_retire_stopped_blue():
    attempt = recorded("attempt_retire")
    assert attempt["rc"] == 0, fatal_text(attempt)
    assert not BLUE.service("demo@blue").is_running


def test_contract_ran_after_the_retire():
    attempt = recorded("attempt_contract")
    assert attempt["rc"] == 0, fatal_text(attempt)
    migration = attempt["custom_stats"]["bluegreen_migration"]
    outcome = (migration["phase"], migration["release"], migration["status"], migration["rc"])
    assert outcome == ("contract", "2.0.0", "applied", 0)


def test_schema_is_contracted():
    # legacy_ref (1.0.0's) dropped by the contract only, customer_ref added by 2.0.0's expand.
    assert orders_columns() == ["id", "customer_ref"]


def test_green_records_each_phase_once():
    record = json.loads(GREEN.file("/var/lib/demo/bluegreen/migrations.json").content_string)
    assert set(record["expand"]) == {"2.0.0"}
    assert set(record["contract"]) == {"2.0.0"}


def test_green_2_0_0_serves_on_the_contracted_schema():
    # The home page reads the database (db_release.py): a 200 means the query on the new schema worked.
    assert_served_by(fetch(LB, 80, count=5), "green", "2.0.0")
