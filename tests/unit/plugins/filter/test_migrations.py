# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""destructive_statements (sqlglot), contract_blockers and rollback_blocked."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.switchyard.bluegreen.plugins.filter import migrations


def guard(sql: str, path: str = "m.sql") -> list[tuple[str, str]]:
    return [(f["reason"], f["statement"]) for f in migrations.destructive_statements([{"path": path, "content": sql}])]


@pytest.mark.parametrize("sql", [
    "ALTER TABLE orders ADD COLUMN customer_ref text NULL;",
    "ALTER TABLE orders ADD COLUMN customer_ref text;",
    "ALTER TABLE orders ADD COLUMN n int NOT NULL DEFAULT 0;",
    "CREATE INDEX CONCURRENTLY orders_ref ON orders (customer_ref);",
    "CREATE TABLE t (id int NOT NULL, name text NOT NULL);",  # a new table: nobody reads it yet
    "UPDATE orders SET customer_ref = legacy_ref"
    " WHERE id IN (SELECT id FROM orders WHERE customer_ref IS NULL LIMIT 5000);",
    "DROP INDEX orders_old_idx;",
    "-- only a comment\n",
])
def test_compatible_expand_statements_pass(sql):
    assert guard(sql) == []


@pytest.mark.parametrize(("sql", "reason"), [
    ("ALTER TABLE orders DROP COLUMN legacy_ref;", "DROP COLUMN"),
    ("DROP TABLE legacy_orders;", "DROP TABLE"),
    ("ALTER TABLE orders RENAME COLUMN ref TO customer_ref;", "RENAME"),
    ("ALTER TABLE orders RENAME TO purchases;", "RENAME"),
    ("ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 2);", "ALTER ... TYPE"),
    ("ALTER TABLE orders ALTER COLUMN ref SET NOT NULL;", "SET NOT NULL on an existing column"),
    ("ALTER TABLE orders ADD COLUMN n int NOT NULL;", "ADD COLUMN ... NOT NULL without a default on an existing table"),
])
def test_destructive_statements_are_named(sql, reason):
    found = guard(sql)
    assert [pair[0] for pair in found] == [reason]
    assert found[0][1].upper().startswith(sql.split()[0].upper())


def test_each_finding_names_the_file_and_keeps_file_order():
    files = [
        {"path": "/srv/m/001_expand.sql", "content": "ALTER TABLE a ADD COLUMN b text;"},
        {"path": "/srv/m/002_drop.sql",
         "content": "ALTER TABLE a ADD COLUMN c text;\nALTER TABLE a DROP COLUMN old;\nDROP TABLE x;"},
    ]
    found = migrations.destructive_statements(files)
    assert [(f["file"], f["reason"]) for f in found] == [
        ("/srv/m/002_drop.sql", "DROP COLUMN"), ("/srv/m/002_drop.sql", "DROP TABLE")]
    assert found[0]["statement"] == "ALTER TABLE a DROP COLUMN old"


def test_invalid_sql_names_the_file():
    with pytest.raises(AnsibleFilterError, match=r"broken\.sql: not valid SQL"):
        migrations.destructive_statements([{"path": "broken.sql", "content": "ALTER TABLE (((;"}])


@pytest.mark.parametrize("bad", ["a.sql", [{"path": "a.sql"}], {"path": "a.sql", "content": ""}])
def test_bad_input_is_refused(bad):
    with pytest.raises(AnsibleFilterError):
        migrations.destructive_statements(bad)


def test_missing_sqlglot_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sqlglot", None)  # import sqlglot now raises ImportError
    with pytest.raises(AnsibleFilterError, match=r"pip install sqlglot.*migrate_guard: false"):
        migrations.destructive_statements([])


def test_contract_blockers_lists_older_releases_only():
    versions = {"green": ["2.0.0"], "blue": ["1.0.0", "2.0.0"]}
    assert migrations.contract_blockers(versions, "2.0.0") == [{"color": "blue", "version": "1.0.0"}]
    assert migrations.contract_blockers({"green": ["2.0.0"], "blue": []}, "2.0.0") == []
    # Version order, not text order: 10.0.0 is newer than 9.1.0.
    assert migrations.contract_blockers({"blue": ["9.1.0"]}, "10.0.0") == [{"color": "blue", "version": "9.1.0"}]
    assert migrations.contract_blockers({"blue": ["10.0.0"]}, "9.1.0") == []


@pytest.mark.parametrize(("args", "message"), [
    (([], "2.0.0"), "expects"),
    (({"blue": ["1.0.0"]}, ""), "migrate_release"),
])
def test_contract_blockers_refuses_bad_input(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        migrations.contract_blockers(*args)


def test_rollback_blocked():
    assert migrations.rollback_blocked(["1.0.0"], ["2.0.0"]) is True
    assert migrations.rollback_blocked("2.0.0", "2.0.0") is False
    assert migrations.rollback_blocked(["2.1.0"], ["2.0.0"]) is False
    # Older than the last of several contracts is enough.
    assert migrations.rollback_blocked(["2.1.0"], ["2.0.0", "3.0.0"]) is True
    assert migrations.rollback_blocked(["1.0.0"], []) is False
    assert migrations.rollback_blocked([], ["2.0.0"]) is False


def test_versions_in_service_keeps_the_live_and_healthy_colours():
    status = {
        "green": {"hosts": 1, "versions": ["2.0.0"], "healthy": 1, "live_on": 1},
        "blue": {"hosts": 1, "versions": ["1.0.0"], "healthy": 1, "live_on": 0},
    }
    assert migrations.versions_in_service(status, "green") == {"green": ["2.0.0"], "blue": ["1.0.0"]}
    # Retired: stopped, so no healthy host; it can no longer be rolled back to.
    status["blue"]["healthy"] = 0
    assert migrations.versions_in_service(status, "green") == {"green": ["2.0.0"]}
    # The live colour counts even when its probe failed; a colour without a record has no release.
    status["green"].update(healthy=0, versions=["none"])
    assert migrations.versions_in_service(status, "green") == {"green": []}
    with pytest.raises(AnsibleFilterError):
        migrations.versions_in_service([], "green")


def test_the_named_statement_leaves_out_comments():
    sql = "-- why\nALTER TABLE a DROP COLUMN b; -- tail"
    found = migrations.destructive_statements([{"path": "m.sql", "content": sql}])
    assert found == [{"file": "m.sql", "statement": "ALTER TABLE a DROP COLUMN b", "reason": "DROP COLUMN"}]


def test_contract_releases_merges_every_host_and_the_extra_records():
    hostvars = {
        "app1": {"migrate_recorded_here": {"expand": {"2.0.0": {}}, "contract": {"2.0.0": {"rc": 0}}}},
        "app2": {"migrate_recorded_here": {}},
        "app3": {},
        "app4": {"migrate_recorded_here": {"contract": {"1.5.0": {"rc": 0}, "2.0.0": {"rc": 0}}}},
    }
    extra = {"contract": {"3.0.0": {"rc": 0}}}
    assert migrations.contract_releases(["app1", "app2", "app3", "app4", "gone"], hostvars, extra) == [
        "1.5.0", "2.0.0", "3.0.0"]
    assert migrations.contract_releases([], hostvars) == []
    assert migrations.contract_releases(["app2", "app3"], hostvars, [{}, {"contract": {}}]) == []


def test_contract_releases_refuses_a_string_of_hosts():
    with pytest.raises(AnsibleFilterError, match="list of hosts"):
        migrations.contract_releases("app1", {})


def test_loading_the_filters_does_not_import_sqlglot():
    # Ansible loads every filter file to resolve any collection filter, in each task's worker.
    code = ("import sys; import ansible_collections.switchyard.bluegreen.plugins.filter.migrations; "
            "print('sqlglot' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert shown.stdout.strip() == "False"
