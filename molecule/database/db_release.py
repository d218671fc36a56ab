# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Package a release of the demo app that reads the scenario's PostgreSQL on every page but /healthz.

    python3 molecule/database/db_release.py --version 2.0.0 --columns id,customer_ref --db-host 10.88.237.13 --out DIR

Every page except /healthz runs `SELECT <columns> FROM orders` through psql and answers 500 when it
fails, so a release whose column was dropped fails its smoke test (home page) while its health check
still passes, as a real release would. Same archive layout as demo/app/package.py.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "demo" / "app" / "app.py"
sys.path.insert(0, str(APP.parent))
from package import release_archive, write_release  # noqa: E402 - demo/app/package.py, the one release layout

DB_CODE = '''
import subprocess as _db_subprocess

_DB_HOST = {host!r}
_DB_QUERY = {query!r}


def _db_status(path):
    if path.split("?", 1)[0] == "/healthz":
        return 200
    run = _db_subprocess.run(["psql", "-X", "-h", _DB_HOST, "-U", "app", "-d", "shop", "-tAc", _DB_QUERY],
                             capture_output=True, timeout=10, check=False)
    return 200 if run.returncode == 0 else 500


'''
HOOK = "        self.send_response(200)\n"
COLUMNS_RE = re.compile(r"^[a-z_]+(,[a-z_]+)*$")


def build_app(columns: str, host: str) -> bytes:
    source = APP.read_text(encoding="utf-8")
    # Fail loudly when app.py changed shape, rather than build a release that never reads the database.
    if source.count(HOOK) != 1 or source.count("\nclass Handler(") != 1:
        raise SystemExit(f"{APP}: cannot find the response hook; update db_release.py")
    source = source.replace(HOOK, "        self.send_response(_db_status(self.path))\n")
    code = DB_CODE.format(host=host, query=f"SELECT {columns} FROM orders ORDER BY id")  # noqa: S608 - columns match COLUMNS_RE
    return source.replace("\nclass Handler(", code + "class Handler(", 1).encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--version", required=True)
    parser.add_argument("--columns", required=True, help="comma-separated columns of orders the release reads")
    parser.add_argument("--db-host", required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    if not COLUMNS_RE.match(args.columns):
        parser.error(f"--columns {args.columns!r}: use names like id,legacy_ref")
    archive, checksum = write_release(args.out, args.version,
                                      release_archive(build_app(args.columns, args.db_host), args.version))
    print(f"{archive} {checksum}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
