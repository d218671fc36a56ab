# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Median step timings of switchyard.bluegreen.nginx_upstream on this machine.

Starts a private nginx on loopback with real blue/green backends, then runs the module
N times (alternating blue/green, each run a real module process like Ansible starts it)
and prints the median/min/max of the timings the module reports, plus the wall time of
the module process. After every switch it checks through nginx that the new colour
answers, so a number is only counted for a switch that really happened.

    build/venv/bin/python bench/nginx_upstream_timings.py --runs 30
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analyse import add_switch_timings, print_step_table  # noqa: E402 - bench/, this script's folder

from tests.lib.backends import ColourBackend, pools_of  # noqa: E402
from tests.lib.modules import execute_module  # noqa: E402
from tests.lib.nginx import LoopbackNginx  # noqa: E402

STEPS = ("validate_ms", "reload_ms", "drain_ms", "total_ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="number of switches (bounded to 1-500)")
    parser.add_argument("--keepalive", type=int, default=0)
    options = parser.parse_args()
    runs = max(1, min(options.runs, 500))

    backends = {colour: ColourBackend(colour).start() for colour in ("blue", "green")}
    with tempfile.TemporaryDirectory(prefix="nginx-bench-") as folder:
        nginx = LoopbackNginx(Path(folder))
        nginx.add_proxy_site("shop")
        base = {"name": "shop", "pools": pools_of(backends),
                "path": str(nginx.conf_d / "bluegreen_shop.conf"), "keepalive": options.keepalive,
                "drain_timeout": 10, **nginx.module_args()}
        first = execute_module("nginx_upstream", dict(base, active="blue", reload=False))
        if first.failed:
            print(first, file=sys.stderr)
            return 1
        nginx.start()
        samples = {step: [] for step in (*STEPS, "process_wall_ms")}
        undrained = 0
        try:
            for index in range(runs):
                colour = "green" if index % 2 == 0 else "blue"
                started = time.monotonic()
                result = execute_module("nginx_upstream", dict(base, active=colour))
                wall = (time.monotonic() - started) * 1000
                if result.failed or not result["changed"] or not result["reloaded"]:
                    print(f"run {index}: unexpected result {result}", file=sys.stderr)
                    return 1
                counts = nginx.colour_counts("shop", 5)
                if counts != {colour: 5}:
                    print(f"run {index}: traffic {counts} after switching to {colour}", file=sys.stderr)
                    return 1
                undrained += not result["drained"]
                add_switch_timings(samples, result, STEPS, wall)
        finally:
            nginx.stop()
            for backend in backends.values():
                backend.stop()

    print(f"nginx_upstream: {runs} switches, keepalive={options.keepalive}, not drained in time: {undrained}")
    print_step_table(samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
