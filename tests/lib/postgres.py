# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A private PostgreSQL cluster for tests: initdb in a temp dir, pg_ctl on a loopback port.

The Debian package `postgresql` (scripts/system-deps.sh) provides the binaries under
/usr/lib/postgresql/<major>/bin. PostgreSQL refuses to run as root: as root the cluster runs as
the `postgres` system user (runuser); as anyone else, as that user. Connections: TCP on
127.0.0.1:<port> only (no Unix socket outside the temp dir), trust authentication, user `app`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.lib.ports import LOOPBACK, free_port, wait_for_port


def postgres_bin() -> Path | None:
    """The newest installed server's bin directory, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


class LoopbackPostgres:
    """start() → a cluster on 127.0.0.1:port with database `app`; stop() removes it."""

    user = "app"
    database = "app"

    def __init__(self):
        self.bin = postgres_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries not found: install the Debian package postgresql "
                               "(scripts/system-deps.sh)")
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="switchyard-pg-"))
        self.data = self.root / "data"
        self.run_as = "postgres" if os.geteuid() == 0 else None

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", self.run_as, "--"] if self.run_as else []) + list(args)

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(self._cmd(*args), capture_output=True, text=True, check=True, timeout=120)

    def start(self) -> LoopbackPostgres:
        if self.run_as:
            owner = pwd.getpwnam(self.run_as)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust",
                  "--no-sync", "-E", "UTF8")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                  "-o", f"-c listen_addresses={LOOPBACK} -p {self.port} -k {self.root} -c fsync=off", "start")
        wait_for_port(self.port)
        self.psql("-d", "postgres", "-c", f"CREATE DATABASE {self.database}")
        return self

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"),
                           capture_output=True, text=True, check=False, timeout=120)
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def psql_command(self) -> str:
        """A psql command line (for a migration command) that connects to the app database."""
        return (f"{shutil.which('psql') or 'psql'} -X -v ON_ERROR_STOP=1 -h {LOOPBACK} -p {self.port}"
                f" -U {self.user} -d {self.database}")

    def psql(self, *args: str, stdin: str | None = None) -> str:
        """Run psql on the app database (unless -d is given); stdin is a script (psql interpolates :'vars' there)."""
        cmd = ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-h", LOOPBACK, "-p", str(self.port), "-U", self.user,
               "-At", *args]
        if "-d" not in args:
            cmd += ["-d", self.database]
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=True, timeout=60).stdout

    def columns(self, table: str) -> list[str]:
        # A bound variable, not string formatting: psql quotes :'table' itself.
        out = self.psql("-v", f"table={table}", stdin=(
            "SELECT column_name FROM information_schema.columns WHERE table_name = :'table'"
            " ORDER BY ordinal_position;"))
        return out.split()

    def schema(self, database: str | None = None) -> dict:
        """Every table's columns (name, type) and every index of schema public, to compare before/after."""
        args = ["-d", database] if database else []
        columns = self.psql(*args, stdin=(
            "SELECT table_name || '.' || column_name || ' ' || data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position;")).splitlines()
        indexes = self.psql(*args, stdin=(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname;")).splitlines()
        return {"columns": columns, "indexes": indexes}

    def backends_running(self, needle: str) -> list[str]:
        """Queries of the server's other backends that contain `needle` (a migration the client left behind)."""
        out = self.psql("-d", "postgres", "-v", f"needle={needle}", stdin=(
            "SELECT state || ': ' || query FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
            " AND strpos(query, :'needle') > 0;"))
        return out.splitlines()
