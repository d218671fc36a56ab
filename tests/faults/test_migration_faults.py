# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Failing and destructive database migrations: each stops the deploy before any switch.

The lab of tests/integration/migrate (a real loopback PostgreSQL, one cluster for this module and
a fresh database per test; blue runs the sample app's 1.0.0 and is live, green the release under
test), driven by its playbooks. The deploy's next step, the router switch, is the real
nginx_upstream module writing the upstream file of a private nginx configuration (not started: the
file's bytes are what a switch changes): ``deploy(...)`` runs expand.yml followed by that switch to
green, as deploy.yml does, so "nothing was switched" is read from the file, not from a message.

Every row also checks the database (the schema of every table, the rows of `orders`), the
migration record (migrations.json) and what blue answers.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.migrate import conftest as migrate_lab
from tests.integration.migrate.conftest import HERE, RELEASES, failures, migrate_result
from tests.integration.migrate.test_migrations import contract_vars, expand_vars
from tests.lib.nginx import LoopbackNginx

from .conftest import UPSTREAM, run_module_process

# The migrate suite's fixtures, used here as they are: one PostgreSQL cluster (session scope: one for this
# module when the fault suite runs), a fresh database per test, the shop lab on it (blue runs 1.0.0).
postgres = migrate_lab.postgres
database = migrate_lab.database
shop = migrate_lab.shop

CATEGORY = "migrate: failing and destructive migrations"
TARGET_SMOKE = "Smoke-test the target colour"
SWITCH_TASK = "Switch the router to green"


# --------------------------------------------------------------------------- the lab


class Router:
    """The upstream file of a private nginx configuration, written by nginx_upstream (live: blue)."""

    def __init__(self, prefix: Path, ports: dict[str, int]):
        self.nginx = LoopbackNginx(prefix)
        self.nginx.add_proxy_site(UPSTREAM)
        self.path = self.nginx.conf_d / f"bluegreen_{UPSTREAM}.conf"
        self.ports = ports
        first = run_module_process("nginx_upstream", self.args("blue"))
        assert not first.failed, first
        self.initial = self.path.read_bytes()

    def args(self, active: str) -> dict:
        return {"name": UPSTREAM, "path": str(self.path), "active": active, "reload": False,
                "pools": {colour: [f"127.0.0.1:{port}"] for colour, port in self.ports.items()},
                **self.nginx.module_args()}

    def switched(self) -> bool:
        return self.path.read_bytes() != self.initial


def deploy_playbook(tmp_path: Path, router: Router) -> Path:
    """expand.yml (expand, live smoke test, target smoke test), then deploy.yml's switch to green."""
    path = tmp_path / "deploy.yml"
    path.write_text(yaml.safe_dump([
        {"import_playbook": str(HERE / "expand.yml")},
        {"name": "Switch", "hosts": "bluegreen_lb", "gather_facts": False, "tasks": [
            {"name": SWITCH_TASK, "switchyard.bluegreen.nginx_upstream": router.args("green")}]},
    ], sort_keys=False))
    return path


@pytest.fixture
def router(tmp_path, shop):
    """A factory: router(version) starts green on that release, writes the router file (live: blue) and
    returns it with the deploy playbook that switches it to green."""
    def make(green_version: str) -> tuple[Router, Path]:
        shop.run_colour("green", green_version)
        box = Router(tmp_path / "nginx", {colour: server.port for colour, server in shop.servers.items()})
        return box, deploy_playbook(tmp_path, box)
    return make


def fatal_msg(stdout: str) -> str:
    """The msg of the last fatal line (the reason the run stopped)."""
    lines = failures(stdout).splitlines()
    assert lines, stdout[-3000:]
    try:
        return json.loads(lines[-1].split("=> ", 1)[1])["msg"]
    except (IndexError, ValueError, KeyError):
        return lines[-1]


def orders(shop) -> list[str]:
    return shop.db.cluster.psql("-d", shop.db.name, "-c", "SELECT * FROM orders ORDER BY id").splitlines()


class Snapshot:
    """The database's schema, the orders' rows and the migration record before a fault."""

    def __init__(self, shop):
        self.shop = shop
        self.schema = shop.db.cluster.schema(shop.db.name)
        self.rows = orders(shop)
        self.record = shop.record()

    def assert_unchanged(self) -> str:
        assert self.shop.db.cluster.schema(self.shop.db.name) == self.schema, "the schema changed"
        assert orders(self.shop) == self.rows, "the rows of orders changed"
        assert self.shop.record() == self.record, "the migration record changed"
        return f"schema ({len(self.schema['columns'])} columns), {len(self.rows)} rows of orders, migration record"


def processes_with(needle: str) -> list[int]:
    """Pids whose command line contains `needle` (the migration's own file)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


# --------------------------------------------------------------------------- control


def test_control_compatible_expand_switches(router, shop):
    """The harness itself: without a fault, the same run does switch (else "not switched" proves nothing)."""
    box, playbook = router("2.0.0")
    result = shop.play(playbook, expand_vars(shop, "2.0.0"))
    assert result.returncode == 0, result.stdout[-3000:]
    assert migrate_result(result.stdout)["status"] == "applied"
    assert box.switched()
    assert f"127.0.0.1:{box.ports['green']}" in box.path.read_text()


# --------------------------------------------------------------------------- faults


def test_failing_expand_migration(router, shop, tmp_path, fault_log):
    fault_log.set(CATEGORY, "expand migration fails (psql exits 3 on a PostgreSQL error, in a transaction)",
                  "clear failure with rc and PostgreSQL's error; no switch; target not smoke-tested; schema, rows "
                  "and migration record unchanged; blue answers 200")
    box, playbook = router("2.0.0")
    before = Snapshot(shop)
    sql = tmp_path / "failing-expand.sql"
    sql.write_text("BEGIN;\nALTER TABLE orders ADD COLUMN customer_ref text NULL;\n"
                   "INSERT INTO orders (no_such_column) VALUES (1);\nCOMMIT;\n")
    result = shop.play(playbook, expand_vars(shop, "2.0.0", bluegreen_migrate_expand=shop.db.psql_file(sql)))
    fault_log.runs = 1
    msg = fault_log.measured["msg"] = fatal_msg(result.stdout)
    assert result.returncode != 0
    assert "The expand migration for 2.0.0 on localhost failed (rc 3)" in msg
    assert "nothing was switched and the live colour keeps the traffic" in msg
    assert 'column "no_such_column" of relation "orders" does not exist' in msg  # the output, in the failure
    assert TARGET_SMOKE not in result.stdout and SWITCH_TASK not in result.stdout
    assert not box.switched(), "the router was switched"
    fault_log.measured["unchanged"] = before.assert_unchanged() + ", router file"
    assert shop.status("blue") == 200
    fault_log.measured["status"] = "blue 200"


def test_destructive_statement_refused_in_expand(router, shop, tmp_path, fault_log):
    fault_log.set(CATEGORY, "DROP COLUMN (read by the live release) in an expand .sql file",
                  "refused before the command runs, naming the file and the statement; no switch; schema, rows "
                  "and migration record unchanged; blue answers 200")
    box, playbook = router("2.0.1")
    before = Snapshot(shop)
    sql = RELEASES / "2.0.1" / "expand.sql"
    ran = tmp_path / "command-ran"
    result = shop.play(playbook, expand_vars(shop, "2.0.1", bluegreen_migrate_sql_files=[str(sql)],
                                             bluegreen_migrate_expand=f"touch {ran} && {shop.db.psql_file(sql)}"))
    fault_log.runs = 1
    msg = fault_log.measured["msg"] = fatal_msg(result.stdout)
    assert result.returncode != 0
    assert "Expand migration for 2.0.1 refused, nothing was run and nothing switched" in msg
    assert f'{sql}: DROP COLUMN in "ALTER TABLE orders DROP COLUMN legacy_ref"' in msg
    assert not ran.exists(), "the migration command ran"
    assert "Run the migration command of phase expand" not in result.stdout
    assert not box.switched(), "the router was switched"
    assert "legacy_ref" in shop.db.columns("orders")
    fault_log.measured["unchanged"] = before.assert_unchanged() + ", router file; the command never started"
    assert shop.status("blue") == 200
    fault_log.measured["status"] = "blue 200"


def test_expand_migration_timeout(router, shop, tmp_path, fault_log):
    fault_log.set(CATEGORY, "expand migration runs past bluegreen_migrate_timeout (2 s; the SQL sleeps 20 s)",
                  "failure naming migrate_timeout (bluegreen_migrate_timeout); the migration process is gone; "
                  "no switch; schema, rows and migration record unchanged")
    box, playbook = router("2.0.0")
    before = Snapshot(shop)
    sql = tmp_path / "slow-expand.sql"
    sql.write_text("SELECT pg_sleep(20) AS hg_slow_expand;\nALTER TABLE orders ADD COLUMN customer_ref text NULL;\n")
    start = time.monotonic()
    result = shop.play(playbook, expand_vars(shop, "2.0.0", bluegreen_migrate_expand=shop.db.psql_file(sql),
                                             bluegreen_migrate_timeout=2))
    fault_log.runs = 1
    fault_log.measured["seconds"] = round(time.monotonic() - start, 1)
    msg = fault_log.measured["msg"] = fatal_msg(result.stdout)
    left = processes_with(str(sql))
    backends = shop.db.cluster.backends_running("hg_slow_expand")
    # Measured, not asserted: the client is gone, the server may still be running its statement.
    fault_log.measured["problems"] = (f"server backend still running the statement after the failure: {backends}"
                                      if backends else None)
    assert result.returncode != 0
    assert "did not finish within migrate_timeout (bluegreen_migrate_timeout) = 2 s and was stopped" in msg
    assert left == [], f"the migration process is still running: {left}"
    assert TARGET_SMOKE not in result.stdout and SWITCH_TASK not in result.stdout
    assert not box.switched(), "the router was switched"
    fault_log.measured["unchanged"] = before.assert_unchanged() + ", router file; no psql process left"
    assert shop.status("blue") == 200
    fault_log.measured["status"] = "blue 200"


def test_contract_refused_while_rollback_target_runs_old_release(shop, tmp_path, fault_log):
    fault_log.set(CATEGORY, "contract (DROP COLUMN) while blue, a rollback target, still runs 1.0.0",
                  "refused naming blue and 1.0.0; the command never starts; schema, rows and migration record "
                  "unchanged; blue answers 200")
    # 2.0.0's expand ran (2.0.1 reads customer_ref); green runs 2.0.1, blue still 1.0.0.
    shop.db.cluster.psql("-d", shop.db.name, "-f", str(RELEASES / "2.0.0" / "expand.sql"))
    shop.run_colour("green", "2.0.1")
    before = Snapshot(shop)
    ran = tmp_path / "command-ran"
    sql = RELEASES / "2.0.1" / "expand.sql"
    result = shop.play("role.yml", contract_vars(
        shop, migrate_versions_by_color={"green": ["2.0.1"], "blue": ["1.0.0"]}, migrate_sql_files=[str(sql)],
        migrate_command=f"touch {ran} && {shop.db.psql_file(sql)}"))
    fault_log.runs = 1
    msg = fault_log.measured["msg"] = fatal_msg(result.stdout)
    assert result.returncode != 0
    assert "Contract migration for 2.0.1 refused, nothing was run: blue still runs 1.0.0" in msg
    assert not ran.exists(), "the contract command ran"
    assert "legacy_ref" in shop.db.columns("orders")
    fault_log.measured["unchanged"] = before.assert_unchanged() + "; the command never started"
    assert (shop.status("blue"), shop.status("green")) == (200, 200)
    fault_log.measured["status"] = "blue 200, green 200"


def test_expand_breaks_the_running_release(router, shop, fault_log):
    fault_log.set(CATEGORY, "expand (a plain command, no .sql file for the guard) drops a column the live 1.0.0 "
                  "reads",
                  "live colour's smoke test fails after the expand: the deploy stops before the target's smoke test "
                  "and the switch; the failure names the migration and says blue is failing now")
    # 2.0.0's expand ran (green's 2.0.1 reads customer_ref): only the DROP COLUMN is wrong.
    shop.db.cluster.psql("-d", shop.db.name, "-f", str(RELEASES / "2.0.0" / "expand.sql"))
    box, playbook = router("2.0.1")
    result = shop.play(playbook, expand_vars(shop, "2.0.1"))
    fault_log.runs = 1
    msg = fault_log.measured["msg"] = fatal_msg(result.stdout)
    assert result.returncode != 0
    assert "broke the running release" in msg
    assert "the live colour blue (1.0.0) fails its smoke test" in msg
    assert shop.db.psql_file(RELEASES / "2.0.1" / "expand.sql") in msg
    assert "Smoke test of blue FAILED" in result.stdout
    assert TARGET_SMOKE not in result.stdout and SWITCH_TASK not in result.stdout
    assert not box.switched(), "the router was switched"
    # The real outcome: the migration did run (and is recorded), blue is down until the schema is restored.
    assert shop.db.columns("orders") == ["id", "customer_ref"]
    assert list(shop.record()["expand"]) == ["2.0.1"]
    assert (shop.status("blue"), shop.status("green")) == (500, 200)
    fault_log.measured["status"] = "blue 500 (column dropped, expand 2.0.1 recorded as applied), green 200"
    fault_log.measured["unchanged"] = "router file (still blue)"


def test_expand_migration_timeout_waiting_for_a_lock(router, shop, tmp_path, fault_log):
    """The usual cause of a timeout: the ALTER waits for a lock a transaction of the running release holds."""
    import psycopg  # noqa: PLC0415 - the sample app's driver, only here

    fault_log.set(CATEGORY, "expand ALTER TABLE waits past bluegreen_migrate_timeout (2 s) for a lock an open "
                  "transaction holds; the transaction ends after the failure",
                  "failure naming the option; no switch; the ALTER is not applied, not even after the lock is "
                  "released; schema, rows and migration record unchanged")
    box, playbook = router("2.0.0")
    before = Snapshot(shop)
    # 2.0.0's expand, from a file of this test's own (its path finds the migration's processes).
    sql = tmp_path / "expand-2.0.0.sql"
    sql.write_bytes((RELEASES / "2.0.0" / "expand.sql").read_bytes())
    holder = psycopg.connect(shop.db.dsn)
    holder.execute("SELECT * FROM orders")  # an open transaction holding ACCESS SHARE on orders
    try:
        result = shop.play(playbook, expand_vars(shop, "2.0.0", bluegreen_migrate_expand=shop.db.psql_file(sql),
                                                 bluegreen_migrate_timeout=2))
    finally:
        waiting = shop.db.cluster.backends_running("ADD COLUMN customer_ref")
        holder.rollback()
        holder.close()
    # Whatever the stopped migration left in the server finishes (or not) once the lock is free.
    deadline = time.monotonic() + 15
    while shop.db.cluster.backends_running("ADD COLUMN customer_ref") and time.monotonic() < deadline:
        time.sleep(0.2)
    fault_log.runs = 1
    msg = fault_log.measured["msg"] = fatal_msg(result.stdout)
    after = shop.db.cluster.schema(shop.db.name)
    fault_log.measured["problems"] = (f"backends of the stopped migration when the lock was released: {waiting}; "
                                      f"schema afterwards: {after['columns']}, indexes {after['indexes']}; "
                                      f"migration record: {shop.record()}")
    assert result.returncode != 0
    assert "did not finish within migrate_timeout (bluegreen_migrate_timeout) = 2 s and was stopped" in msg
    assert processes_with(str(sql)) == [], "the migration process is still running"
    assert TARGET_SMOKE not in result.stdout and SWITCH_TASK not in result.stdout
    assert not box.switched(), "the router was switched"
    fault_log.measured["unchanged"] = before.assert_unchanged() + ", router file"
