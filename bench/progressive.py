# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Errors users see from a bad release: one-step switch vs progressive switch (bluegreen_steps).

Both runs use the same lab (tests/integration/progressive/lab.py): real blue/green backends on
loopback, a real nginx front converged by the nginx role with the traffic log, a load client at
a fixed rate, and the switch role through ansible-playbook. The release on green answers 500 to
every 10th request: it passes the precheck (5 requests) but not real traffic.

- one step: the ordinary switch; the verification after it (switch_verify_requests) sees the
  errors and switches back;
- progressive: the same release with 3 steps; the first step's analysis aborts it.

Reported per run: requests, requests green answered, errors users saw, the playbook's duration,
which colour answers 10 requests sent after it, and a per-second timeline of green's share and
the error rate (with --plot, a PNG of it).

    build/venv/bin/python bench/progressive.py --quick      # steps 10:3, 50:3, 100; about 1 min
    build/venv/bin/python bench/progressive.py              # steps 5:30, 25:60, 100; about 3 min
    ... --json build/progressive.json --plot build/progressive.png
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.integration.progressive.lab import Lab  # noqa: E402
from tests.lib.eda import LoadClient  # noqa: E402

QUICK = {"steps": "10:3, 50:3, 100", "min_requests": 10, "rate": 100.0}
FULL = {"steps": "5:30, 25:60, 100", "min_requests": 50, "rate": 100.0}


def timeline(records, t0):
    """Per second since t0: requests, green's share of the answers, error rate."""
    seconds = {}
    for sent, status, colour in records:
        second = math.floor(sent - t0)
        entry = seconds.setdefault(second, {"second": second, "requests": 0, "green": 0, "errors": 0})
        entry["requests"] += 1
        entry["green"] += colour == "green"
        entry["errors"] += status == 0 or status >= 500
    rows = [seconds[k] for k in sorted(seconds)]
    for row in rows:
        row["green_share"] = round(row["green"] / row["requests"], 3)
        row["error_rate"] = round(row["errors"] / row["requests"], 3)
    return rows


def run(settings: dict, progressive: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="progressive-bench-") as tmp:
        lab = Lab(Path(tmp), "nginx")
        try:
            lab.green.behaviour.fail_every = 10
            extra = {"bluegreen_steps_min_requests": settings["min_requests"]}
            started = time.time()
            load = LoadClient(lab.port, rate=settings["rate"]).start()
            time.sleep(0.5)
            proc = lab.play(bluegreen_steps=settings["steps"] if progressive else [],
                            bluegreen_target_color="green", **extra)
            ended = time.time()
            time.sleep(0.5)
            load.stop()
            records = list(load.records)
            served_after = lab.colours_now(10)  # which colour users get once the playbook is done
        finally:
            lab.close()
    errors = [r for r in records if r[1] == 0 or r[1] >= 500]
    return {
        "mode": f"progressive {settings['steps']}" if progressive else "one step",
        "playbook_rc": proc.returncode,
        "playbook_s": round(ended - started, 1),
        "requests": len(records),
        "green_answered": sum(1 for r in records if r[2] == "green"),
        "errors_seen": len(errors),
        "error_rate": round(len(errors) / len(records), 4) if records else None,
        "served_after": served_after,
        "aborted_at": next((line for line in proc.stdout.splitlines() if "aborted at step" in line), None),
        "timeline": timeline(records, started),
    }


def plot(results, path):
    """The same plot as docs/img/bench-progressive.png (bench/report.py draws both)."""
    sys.path.insert(0, str(REPO / "bench"))
    import report  # noqa: PLC0415

    return report.draw_progressive(results, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    results = [run(settings, progressive=False), run(settings, progressive=True)]
    for result in results:
        print(f"{result['mode']:>28}: {result['requests']} requests, green answered {result['green_answered']}, "
              f"errors seen {result['errors_seen']} ({100 * (result['error_rate'] or 0):.2f} %), playbook "
              f"{result['playbook_s']} s (rc {result['playbook_rc']})")
        if result["aborted_at"]:
            print(f"{'':>30}{result['aborted_at'].strip()[:160]}")
    if args.json:
        args.json.write_text(json.dumps({"settings": settings, "results": results}, indent=1))
    if args.plot and not plot(results, args.plot):
        print("no plot: matplotlib is not installed (pip install -r requirements-bench.txt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
