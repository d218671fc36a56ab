# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Package a release that passes its smoke test and fails 10 % of real traffic (progressive scenario).

    python3 molecule/shared/progressive_release.py --version 3.0.0 --grace 30 --every 10 --out DIR

writes DIR/demo-app-<version>.tar.gz and its .sha256 like faulty_release.py, from the real
demo/app/app.py: /healthz always answers 200; other paths answer 200 for the first --grace
requests (the deploy's smoke test) and then 500 to every --every-th request after them (real users).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faulty_release import APP, HOOK  # the same app and response hook as the failure scenarios
from package import release_archive, write_release  # demo/app/package.py (faulty_release put it on sys.path)

FAULT_CODE = '''
import itertools as _fault_itertools

_FAULT_GRACE = {grace}
_FAULT_EVERY = {every}
_fault_served = _fault_itertools.count(1)  # next() on it is atomic under the GIL


def _fault_status(path):
    """The status this deliberately broken build answers with (injected by progressive_release.py)."""
    if path.split("?", 1)[0] == "/healthz":
        return 200
    served = next(_fault_served)
    return 500 if served > _FAULT_GRACE and (served - _FAULT_GRACE) % _FAULT_EVERY == 0 else 200


'''


def build_app(grace: int, every: int) -> bytes:
    source = APP.read_text(encoding="utf-8")
    if source.count(HOOK) != 1 or source.count("\nclass Handler(") != 1:
        raise SystemExit(f"{APP}: cannot find the response hook to inject the fault; update progressive_release.py")
    source = source.replace(HOOK, "        self.send_response(_fault_status(self.path))\n")
    source = source.replace("\nclass Handler(", FAULT_CODE.format(grace=grace, every=every) + "class Handler(", 1)
    return source.encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--version", required=True)
    parser.add_argument("--grace", type=int, default=30, help="requests (not /healthz) answered 200 first")
    parser.add_argument("--every", type=int, default=10, help="then every N-th request answers 500")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.grace < 0 or args.every < 1:
        parser.error("--grace must be >= 0 and --every >= 1")
    archive, checksum = write_release(args.out, args.version,
                                      release_archive(build_app(args.grace, args.every), args.version))
    print(f"{archive} {checksum}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
