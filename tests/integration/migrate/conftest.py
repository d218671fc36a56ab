# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real PostgreSQL (one private cluster per session, one fresh database per test) and the sample
app's releases on loopback, driven by ansible-playbook with connection local (tests/lib/modules.py)."""

from __future__ import annotations

import itertools
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.integration.migrate.app import ReleaseServer
from tests.lib.modules import execute_playbook
from tests.lib.postgres import LoopbackPostgres, postgres_bin

HERE = Path(__file__).parent
RELEASES = HERE / "releases"
APP = "shop"
_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres():
    if postgres_bin() is None:
        pytest.fail("PostgreSQL server binaries not found: install the Debian package postgresql"
                    " (scripts/system-deps.sh)")
    cluster = LoopbackPostgres().start()
    yield cluster
    cluster.stop()


@dataclass
class Database:
    cluster: LoopbackPostgres
    name: str

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.cluster.port} user={self.cluster.user} dbname={self.name}"

    def psql_file(self, path: Path) -> str:
        """A migration command: psql applies the file, stopping at the first error."""
        return (f"psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p {self.cluster.port} -U {self.cluster.user}"
                f" -d {self.name} -f {path}")

    def columns(self, table: str) -> list[str]:
        out = self.cluster.psql("-d", self.name, "-v", f"table={table}", stdin=(
            "SELECT column_name FROM information_schema.columns WHERE table_name = :'table'"
            " ORDER BY ordinal_position;"))
        return out.split()


@pytest.fixture
def database(postgres):
    name = f"shop{next(_databases)}"
    postgres.psql("-d", "postgres", "-c", f"CREATE DATABASE {name}")
    db = Database(postgres, name)
    # 1.0.0's schema, as its own expand left it.
    postgres.psql("-d", name, "-f", str(RELEASES / "1.0.0" / "expand.sql"))
    return db


class Shop:
    """The lab: blue runs 1.0.0 (live), green the release under test, both on `database`."""

    def __init__(self, tmp_path: Path, database: Database):
        self.tmp, self.db = tmp_path, database
        self.state_dir = tmp_path / "state"
        self.state_dir.mkdir()
        self.migrations_dir = tmp_path / "migrations"
        self.servers: dict[str, ReleaseServer] = {}
        self.inventory = tmp_path / "inventory.yml"

    def run_colour(self, colour: str, version: str) -> None:
        if colour in self.servers:
            self.servers[colour].stop()
        server = ReleaseServer(colour, version, self.db.dsn).start()
        self.servers[colour] = server
        # The record the environment role leaves after installing the release.
        (self.state_dir / f"{colour}.json").write_text(json.dumps({
            "app": APP, "color": colour, "version": version, "artifact": f"{APP}-{version}.tar.gz",
            "checksum": "", "port": server.port, "unit": f"{APP}@{colour}.service"}))
        self._write_inventory()

    def _write_inventory(self) -> None:
        host = {"ansible_connection": "local", "bluegreen_address": "127.0.0.1"}
        self.inventory.write_text(yaml.safe_dump({"all": {
            "vars": {
                "bluegreen_app_name": APP,
                "bluegreen_ports": {c: s.port for c, s in self.servers.items()},
                "environment_state_dir": str(self.state_dir),
                "bluegreen_migrate_state_dir": str(self.migrations_dir),
                "smoke_test_requests": 5,
            },
            "children": {
                "bluegreen_lb": {"hosts": {"localhost": host}},
                "bluegreen_blue": {"hosts": {"localhost": {}}},
                "bluegreen_green": {"hosts": {"localhost": {}}},
            },
        }}, sort_keys=False))

    def play(self, playbook: str, extra_vars: dict):
        return execute_playbook(HERE / playbook, inventory=self.inventory, extra_vars=extra_vars)

    def status(self, colour: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.servers[colour].port}/", timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def record(self) -> dict:
        path = self.migrations_dir / "migrations.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()


def failures(stdout: str) -> str:
    """The fatal lines of a run, for the assertions and their messages."""
    return "\n".join(line for line in stdout.splitlines() if line.startswith("fatal:"))


def migrate_result(stdout: str) -> dict:
    """The migrate_result the test playbooks print (MIGRATE_RESULT=<json>)."""
    found = re.findall(r'"MIGRATE_RESULT=(.*)"\n', stdout)
    assert found, stdout[-3000:]
    return json.loads(json.loads(f'"{found[-1]}"'))


@pytest.fixture
def shop(tmp_path, database):
    lab = Shop(tmp_path, database)
    lab.run_colour("blue", "1.0.0")
    yield lab
    lab.close()
