# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Package the demo application with a fault built in, for the failure scenarios.

    python3 molecule/shared/faulty_release.py --version 2.0.0-bad --fault home-500 --out DIR

writes DIR/demo-app-<version>.tar.gz and its .sha256 in the same layout as
demo/app/package.py (app.py and VERSION at the top level, reproducible), from the
real demo/app/app.py with one change:

- home-500: every path but /healthz answers 500 (the health endpoint stays fine,
  so the colour starts and passes its health wait, and the smoke test's home page fails).
- fail-after=N: paths other than /healthz answer 200 for the first N requests,
  then 500 (a release that passes its smoke test and falls over under real traffic).
- report-version=X: unchanged code, but the VERSION file says X (a wrong build
  shipped under the version being deployed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "demo" / "app" / "app.py"
sys.path.insert(0, str(APP.parent))
from package import release_archive, write_release  # noqa: E402 - demo/app/package.py, the one release layout

# Inserted in front of the request handler; the handler's status line goes through it.
FAULT_CODE = '''
import itertools as _fault_itertools

_FAULT_MODE = {mode!r}
_FAULT_AFTER = {after}
_fault_served = _fault_itertools.count(1)  # next() on it is atomic under the GIL


def _fault_status(path):
    """The status this deliberately broken build answers with (injected by faulty_release.py)."""
    if path.split("?", 1)[0] == "/healthz":
        return 200
    if _FAULT_MODE == "home-500":
        return 500
    return 500 if next(_fault_served) > _FAULT_AFTER else 200


'''
HOOK = "        self.send_response(200)\n"


def build_app(mode: str, after: int) -> bytes:
    source = APP.read_text(encoding="utf-8")
    if mode == "report-version":
        return source.encode()
    # Fail loudly when app.py changed shape, rather than build a release with no fault in it.
    if source.count(HOOK) != 1 or source.count("\nclass Handler(") != 1:
        raise SystemExit(f"{APP}: cannot find the response hook to inject the fault; update faulty_release.py")
    source = source.replace(HOOK, "        self.send_response(_fault_status(self.path))\n")
    source = source.replace("\nclass Handler(", FAULT_CODE.format(mode=mode, after=after) + "class Handler(", 1)
    return source.encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--version", required=True, help="version the deploy asks for (names the archive)")
    parser.add_argument("--fault", required=True, help="home-500, fail-after=N or report-version=X")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)

    mode, _sep, value = args.fault.partition("=")
    if mode not in ("home-500", "fail-after", "report-version") or (mode != "home-500") != bool(value):
        parser.error(f"--fault {args.fault!r}: use home-500, fail-after=N or report-version=X")
    after = int(value) if mode == "fail-after" else 0
    reported = value if mode == "report-version" else args.version

    archive, checksum = write_release(args.out, args.version, release_archive(build_app(mode, after), reported))
    print(f"{archive} {checksum}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
