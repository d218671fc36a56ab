# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Expand/contract migrations on a real PostgreSQL, with the sample app's releases on loopback.

blue runs 1.0.0 (reads legacy_ref) and is live; green gets the release under test:
2.0.0 adds customer_ref (a compatible expand), the bad 2.0.1 drops legacy_ref, which 1.0.0 reads.
"""

from __future__ import annotations

from tests.integration.migrate.conftest import RELEASES, failures, migrate_result


def expand_vars(shop, version: str, **extra) -> dict:
    return {"bluegreen_version": version,
            "bluegreen_migrate_expand": shop.db.psql_file(RELEASES / version / "expand.sql"), **extra}


def test_compatible_expand_runs_once_and_both_colours_pass(shop):
    shop.run_colour("green", "2.0.0")
    result = shop.play("expand.yml", expand_vars(shop, "2.0.0"))
    assert result.returncode == 0, result.stdout[-3000:]
    assert migrate_result(result.stdout)["status"] == "applied"
    assert shop.db.columns("orders") == ["id", "legacy_ref", "customer_ref"]
    assert "Smoke-test the live colour" in result.stdout
    assert (shop.status("blue"), shop.status("green")) == (200, 200)
    assert list(shop.record()["expand"]) == ["2.0.0"]

    # A re-run of the same release does not apply it again (the second CREATE INDEX would fail).
    again = shop.play("expand.yml", expand_vars(shop, "2.0.0"))
    assert again.returncode == 0, again.stdout[-3000:]
    assert migrate_result(again.stdout)["status"] == "already applied"
    assert "TASK [switchyard.bluegreen.migrate : Run the migration command of phase expand]" in result.stdout
    assert "TASK [switchyard.bluegreen.migrate : Run the migration command of phase expand]" not in again.stdout
    assert "Smoke-test the live colour" in again.stdout


def test_expand_that_breaks_the_live_release_stops_before_the_switch(shop):
    shop.run_colour("green", "2.0.1")
    # The guard is for SQL files; a plain command goes through it and breaks 1.0.0.
    result = shop.play("expand.yml", expand_vars(shop, "2.0.1"))
    assert result.returncode != 0
    assert "broke the running release" in result.stdout
    assert "the live colour blue (1.0.0) fails its smoke test" in result.stdout
    assert shop.db.psql_file(RELEASES / "2.0.1" / "expand.sql") in result.stdout  # names the migration
    assert "Smoke test of blue FAILED" in result.stdout and "status 500=5" in result.stdout
    assert "Smoke-test the target colour" not in result.stdout
    assert shop.status("blue") == 500
    assert "legacy_ref" not in shop.db.columns("orders")


def test_guard_refuses_a_destructive_sql_file_in_expand(shop):
    shop.run_colour("green", "2.0.1")
    sql = RELEASES / "2.0.1" / "expand.sql"
    result = shop.play("expand.yml", expand_vars(shop, "2.0.1", bluegreen_migrate_sql_files=[str(sql)]))
    assert result.returncode != 0
    named = f'{sql}: DROP COLUMN in \\"ALTER TABLE orders DROP COLUMN legacy_ref\\"'
    assert named in failures(result.stdout), failures(result.stdout)
    assert "Expand migration for 2.0.1 refused, nothing was run" in result.stdout
    # Nothing ran: 1.0.0 still reads its column.
    assert "legacy_ref" in shop.db.columns("orders")
    assert shop.status("blue") == 200
    assert shop.record() == {}


def test_failing_migration_shows_its_output_and_records_nothing(shop):
    shop.run_colour("green", "2.0.0")
    command = shop.db.psql_file(RELEASES / "2.0.0" / "expand.sql").replace("expand.sql", "missing.sql")
    result = shop.play("expand.yml", expand_vars(shop, "2.0.0", bluegreen_migrate_expand=command))
    assert result.returncode != 0
    assert "The expand migration for 2.0.0 on localhost failed (rc 1)" in result.stdout
    assert "nothing was switched and the live colour keeps the traffic" in result.stdout
    assert "missing.sql: No such file or directory" in result.stdout
    assert "Smoke-test the target colour" not in result.stdout
    assert shop.record() == {}


def test_timeout_is_a_clear_failure_naming_the_option(shop):
    shop.run_colour("green", "2.0.0")
    result = shop.play("expand.yml", expand_vars(
        shop, "2.0.0", bluegreen_migrate_expand="sleep 30", bluegreen_migrate_timeout=1))
    assert result.returncode != 0
    assert "did not finish within migrate_timeout (bluegreen_migrate_timeout) = 1 s" in result.stdout
    assert shop.record() == {}


def test_missing_migration_command_is_refused(shop):
    shop.run_colour("green", "2.0.0")
    sql = RELEASES / "2.0.0" / "expand.sql"
    result = shop.play("expand.yml", {"bluegreen_version": "2.0.0", "bluegreen_migrate_expand": "  ",
                                      "bluegreen_migrate_sql_files": [str(sql)]})
    assert result.returncode != 0
    assert "bluegreen_migrate_expand or migrate_command is empty" in result.stdout
    assert "customer_ref" not in shop.db.columns("orders")


def contract_vars(shop, **extra) -> dict:
    return {"migrate_phase": "contract", "migrate_release": "2.0.1",
            "migrate_command": shop.db.psql_file(RELEASES / "2.0.1" / "expand.sql"), **extra}


def test_contract_refuses_while_a_rollback_target_runs_the_old_release(shop):
    shop.run_colour("green", "2.0.1")
    result = shop.play("role.yml", contract_vars(
        shop, migrate_versions_by_color={"green": ["2.0.1"], "blue": ["1.0.0"]}))
    assert result.returncode != 0
    assert "Contract migration for 2.0.1 refused, nothing was run: blue still runs 1.0.0" in result.stdout
    assert "legacy_ref" in shop.db.columns("orders")


def test_contract_runs_once_the_old_colour_is_retired(shop):
    shop.run_colour("green", "2.0.1")
    sql = RELEASES / "2.0.1" / "expand.sql"
    # blue retired: only green (2.0.1) can serve. The guard lists the DROP COLUMN and lets it through.
    result = shop.play("role.yml", contract_vars(
        shop, migrate_versions_by_color={"green": ["2.0.1"]}, migrate_sql_files=[str(sql)]))
    assert result.returncode == 0, result.stdout[-3000:]
    assert migrate_result(result.stdout)["status"] == "applied"
    assert "ALTER TABLE orders DROP COLUMN legacy_ref" in result.stdout
    assert shop.db.columns("orders") == ["id"]
    assert list(shop.record()["contract"]) == ["2.0.1"]
