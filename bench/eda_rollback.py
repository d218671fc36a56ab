# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Seconds of errors users see when a release turns bad after the switch: with automatic rollback vs without.

Both runs use the same lab (tests/lib/eda.py): real blue/green backends, a loopback nginx
with the managed upstream and the switchyard_bluegreen access log, a load client at a fixed
rate. The switch to green is made with nginx_upstream; `bad_after` seconds later green answers
500 to everything. The observation lasts `observe` seconds from that moment in both runs.

- with: ansible-rulebook runs switchyard.bluegreen.auto_rollback (the bluegreen_watch source,
  rollback.yml as its action);
- without: nothing watches, so the errors last until someone acts (here: the whole observation).

Reported per run: failed requests, the error span (first to last failed request) and the
seconds with at least one failed request. Timing comes only from this run's measurements.

    build/venv/bin/python bench/eda_rollback.py --quick        # about 1.5 min: 1 s windows
    build/venv/bin/python bench/eda_rollback.py                # 5 s windows, 20 s to the fault, 120 s observed
    ... --json build/eda_rollback.json                          # also write the figures as JSON
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

from tests.lib.eda import EdaLab, rulebook_available  # noqa: E402

QUICK = {"bad_after": 5.0, "interval": 1, "window": 2, "bad_windows": 2, "min_requests": 5, "observe": 30.0}
FULL = {"bad_after": 20.0, "interval": 5, "window": 5, "bad_windows": 3, "min_requests": 20, "observe": 120.0}
RATE = 40.0


def run(times: dict, automatic: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="eda-bench-") as tmp:
        lab = EdaLab(Path(tmp), times, rulebook=automatic)
        try:
            switched = lab.start_and_switch(rate=RATE)
            time.sleep(max(0.0, switched + times["bad_after"] - time.time()))
            lab.green.behaviour.status = 500
            went_bad = time.time()
            time.sleep(times["observe"])
            lab.load.stop()
            bad = lab.load.bad(went_bad)
            sent = [r for r in lab.load.records if r[0] >= went_bad]
            back = lab.load.first_on("blue", went_bad)
            first_bad = bad[0][0] if bad else None
            result = {
                "automatic_rollback": automatic,
                "requests": len(sent),
                "failed_requests": len(bad),
                "error_span_s": round(bad[-1][0] - bad[0][0] + 1.0 / RATE, 2) if bad else 0.0,
                "seconds_with_errors": len({math.floor(r[0] - went_bad) for r in bad}),
                "first_bad_to_old_colour_s": round(back - first_bad, 2) if back and first_bad else None,
                "rolled_back": lab.live_in_metadata() == "blue",
                "observed_s": times["observe"],
            }
            if automatic:
                result["rollback_runs"] = len(lab.rulebook.matching(r"bluegreen_watch ROLLBACK"))
            return result
        finally:
            lab.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s windows, fault 5 s after the switch, 30 s observed")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    reason = rulebook_available()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    times = QUICK if args.quick else FULL
    results = [run(times, automatic=True), run(times, automatic=False)]
    print("| release turns bad after the switch | failed requests | error span (s) | seconds with errors "
          "| first bad request -> old colour (s) |")
    print("| --- | --- | --- | --- | --- |")
    for result in results:
        label = "automatic rollback (EDA auto_rollback)" if result["automatic_rollback"] else "no automatic rollback"
        back = result["first_bad_to_old_colour_s"]
        back = back if back is not None else f"never (within {result['observed_s']:g} s)"
        print(f"| {label} | {result['failed_requests']} of {result['requests']} | {result['error_span_s']} "
              f"| {result['seconds_with_errors']} | {back} |")
    print(f"({'quick' if args.quick else 'full'} mode: windows of {times['window']} s every {times['interval']} s, "
          f"{times['bad_windows']} bad windows, fault {times['bad_after']} s after the switch, {RATE:g} requests/s, "
          f"{times['observe']} s observed after the fault)")
    if args.json:
        args.json.write_text(json.dumps({"mode": "quick" if args.quick else "full", "times": times,
                                         "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
