# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The playbooks over SSH to load-balancer containers (issue #16) and a fleet of 1, 3, 10 (issue #17).

    build/venv/bin/python bench/ssh_fleet.py --ssh-runs 3 --sizes 1,3,10 --fleet-runs 3 --json OUT

The containers come from tests/lib/sshfleet.py (podman, sshd and nginx in each, the collection's nginx
role applied, the colours served by each load balancer's own nginx on its loopback), reached with
``ansible_connection: ssh``, pipelining and ControlPersist. Before every timed run the SSH master
connections are closed, so each run pays its own SSH handshakes, as a fresh AWX job does.

ssh:   ``switch.yml`` (blue to green) and ``rollback.yml`` (back) against 3 load balancers, then the floor of
       issue #16 (bench/peers/floor_start.yml, minimal_rollback.yml) in the same round, timed from the
       launch of ansible-playbook to its exit, with the bench_timeline callback (where the seconds go) and a
       light load client (a new connection per request) inside lb1 against its public port, for *all new after*.
fleet: ``switch.yml`` back and forth against N load balancers, two-phase (``switch_two_phase: true``) and
       one-by-one (``false``); the skew is measured from the start times of each load balancer's new nginx
       workers (/proc/<pid>/stat; the containers share the host's kernel), after the run.

Prints progress on stderr, writes {"ssh": ..., "fleet": ...} to --json. Every wait is bounded; SIGTERM
removes the containers (tests/lib/sshfleet.py's context manager) before exiting.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import analyse
import methods
import timeline

from tests.lib import sshfleet
from tests.lib.modules import REPO, VENV_BIN

PLAYBOOK_LIMIT_S = 240
PEERS = Path(__file__).resolve().parent / "peers"
# The light load against lb1 during the SSH phase: a new connection per request.
SSH_LOAD = {"kind": "new", "rate": 50, "conns": 4}
SSH_LBS = 3
METHODS = (("two-phase", True), ("one-by-one", False))


def log(message):
    print(f"[ssh_fleet {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def two_phase_supported():
    """Whether this tree's switch role knows switch_two_phase (it is read, not assumed)."""
    role = REPO / "roles" / "switch"
    return any("switch_two_phase" in path.read_text(encoding="utf-8", errors="replace")
               for path in [*role.glob("defaults/**/*.yml"), *role.glob("meta/*.yml")])


def playbook(lab, name, extra_vars, timeline_file):
    """One timed ansible-playbook run against the fleet: launch to exit, with its timeline."""
    lab.close_masters()  # each run starts cold, as a fresh AWX job does
    Path(timeline_file).unlink(missing_ok=True)
    cmd = lab.command(name, "-e", json.dumps(extra_vars))
    cmd[0] = str(VENV_BIN / "ansible-playbook")
    env = lab.env({**methods.BENCH_ANSIBLE_ENV, **timeline.ansible_env(timeline_file)})
    env.pop("ANSIBLE_PYTHON_INTERPRETER", None)  # the inventory names the containers' python
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=lab.tmp, timeout=PLAYBOOK_LIMIT_S,
                              check=False)
        rc, output = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, output = -9, f"{exc.stdout or ''}\nkilled after {PLAYBOOK_LIMIT_S} s"
    end = time.monotonic()
    return {"playbook": name, "rc": rc, "t_start": start, "t_end": end, "wall_s": end - start,
            "timeline": timeline.parse(timeline_file, start, end, rc), "output": output}


def failure_text(output):
    lines = [line for line in output.splitlines() if "FAILED" in line or "ERROR" in line or "msg" in line]
    return (lines[-1] if lines else output.strip()[-300:]).strip()[:400]


def worker_starts(lab, host):
    """{pid: wall-clock epoch start} of host's current nginx workers (10 ms resolution)."""
    script = ("ticks=$(getconf CLK_TCK); btime=$(awk '/^btime/ {print $2}' /proc/stat); echo $ticks $btime;"
              " for pid in $(pgrep -f '^nginx: worker process'); do cat /proc/$pid/stat 2>/dev/null; echo; done")
    lines = [line for line in lab.exec(host, script).stdout.splitlines() if line.strip()]
    ticks, btime = (int(x) for x in lines[0].split())
    starts = {}
    for line in lines[1:]:
        pid = int(line.split(" ", 1)[0])
        starts[pid] = btime + int(line.rsplit(")", 1)[1].split()[19]) / ticks  # field 22: starttime
    return starts


def all_worker_starts(lab):
    with ThreadPoolExecutor(max_workers=min(10, len(lab.hosts))) as pool:
        return dict(zip(lab.hosts, pool.map(lambda host: worker_starts(lab, host), lab.hosts)))


def served(lab):
    with ThreadPoolExecutor(max_workers=min(10, len(lab.hosts))) as pool:
        return dict(zip(lab.hosts, pool.map(lambda host: (lab.served_color(host) or (None,))[0], lab.hosts)))


class LightLoad:
    """bench/load_client.py inside lb1's container against its own 127.0.0.1:80 (traffic stays on loopback).

    CLOCK_MONOTONIC is the host kernel's (podman gives the container no time namespace), so its records
    line up with the runs' launch and exit times taken here; checked at start (``clock_same``).
    """

    REMOTE = "/tmp/bench-load"

    def __init__(self, lab, host, max_seconds):
        self.lab, self.host = lab, host
        source = (Path(__file__).resolve().parent / "load_client.py").read_text(encoding="utf-8")
        lab.exec(host, f"mkdir -p {self.REMOTE} && cat > {self.REMOTE}/load_client.py", stdin=source)
        before = time.monotonic()
        there = float(lab.exec(host, "python3 -c 'import time; print(time.monotonic())'").stdout)
        after = time.monotonic()
        # One clock: the container's reading falls between the two taken here.
        self.clock_same = before <= there <= after
        self.clock_window_s = after - before
        args = (f"--kind {SSH_LOAD['kind']} --host 127.0.0.1 --port 80 --rate {SSH_LOAD['rate']} "
                f"--conns {SSH_LOAD['conns']} --max-seconds {max_seconds} "
                f"--max-requests {int(SSH_LOAD['rate'] * max_seconds)} --out {self.REMOTE}/load.csv")
        lab.exec(host, f"rm -f {self.REMOTE}/load.csv; setsid nohup python3 {self.REMOTE}/load_client.py {args} "
                       f">{self.REMOTE}/client.log 2>&1 </dev/null &")

    def stop(self):
        """Stop the client (it writes its records on SIGTERM) and read them back."""
        self.lab.exec(self.host, f"pkill -TERM -f {self.REMOTE}/load_client.py; for i in $(seq 300); do "
                                 f"pgrep -f {self.REMOTE}/load_client.py >/dev/null || break; sleep 0.1; done",
                      check=False, timeout=60)
        text = self.lab.exec(self.host, f"cat {self.REMOTE}/load.csv 2>/dev/null || true", timeout=60).stdout
        path = Path(tempfile.mkstemp(suffix=".csv")[1])
        path.write_text(text, encoding="ascii")
        rows = analyse.load_rows(path) if text.strip() else []
        path.unlink()
        return rows


# One round of the SSH phase: the playbooks, then the floor of issue #16 (bench/peers/): floor_start.yml
# switches nothing; minimal_rollback.yml switches to the other colour, as the playbooks do.
SSH_PLAN = ("switch.yml", "rollback.yml", "floor_start.yml", "minimal_rollback.yml")
FLOOR = ("floor_start.yml", "minimal_rollback.yml")


def ssh_phase(lab, runs):
    """Each round of SSH_PLAN ``runs`` times against the 3 load balancers, under a light load on lb1."""
    load = LightLoad(lab, "lb1", max_seconds=runs * len(SSH_PLAN) * PLAYBOOK_LIMIT_S)
    time.sleep(1.0)
    records = []
    try:
        colour = "blue"
        for index in range(runs):
            for name in SSH_PLAN:
                target = colour if name == "floor_start.yml" else ("green" if colour == "blue" else "blue")
                path = str(PEERS / name) if name in FLOOR else name
                run = playbook(lab, path, {}, lab.tmp / "timeline.jsonl")
                run["playbook"] = name
                after = served(lab)
                ok = run["rc"] == 0 and set(after.values()) == {target}
                record = {"i": index, "playbook": name, "from": colour, "to": target, "ok": ok, "rc": run["rc"],
                          "wall_s": run["wall_s"], "t_start": run["t_start"], "t_end": run["t_end"],
                          "served_after": after, "timeline": run["timeline"]}
                if not ok:
                    record["msg"] = failure_text(run["output"]) if run["rc"] else f"served afterwards: {after}"
                log(f"ssh {name}: rc {run['rc']}, {run['wall_s']:.2f} s, served {sorted(set(after.values()), key=str)}")
                records.append(record)
                if not ok:
                    return records, load.stop(), "stopped after a failed run", load
                colour = target
                time.sleep(0.5)
    except BaseException:
        load.stop()
        raise
    time.sleep(0.5)
    return records, load.stop(), None, load


def add_all_new_after(records, rows):
    """Per run, from the load client's records: when the last request to the old colour was sent."""
    for index, record in enumerate(records):
        if record["from"] == record["to"]:
            continue  # floor_start.yml: no switch, no all-new-after
        t_next = records[index + 1]["t_start"] if index + 1 < len(records) else record["t_end"] + 0.5
        switch = {"i": index, "from": record["from"], "to": record["to"], "t_start": record["t_start"],
                  "t_end": record["t_end"], "tool": {"ok": record["ok"]}}
        metrics = analyse.switch_metrics({"new": rows}, switch, t_next)
        record["all_new_after_s"] = metrics["all_new_after_s"]
        record["load_errors"] = metrics["errors"]["new"]


def fleet_runs(lab, runs, two_phase):
    """switch.yml back and forth ``runs`` times per method; the skew from the new workers' start times."""
    records = []
    # The methods alternate, so a change in the machine's load falls on both alike.
    plan = [(index, method, flag) for index in range(runs) for method, flag in METHODS if two_phase or not flag]
    for index, method, flag in plan:
        before = all_worker_starts(lab)
        run = playbook(lab, "switch.yml", {"switch_two_phase": flag}, lab.tmp / "timeline.jsonl")
        after = all_worker_starts(lab)
        colours = served(lab)
        new = {host: {pid: t for pid, t in after[host].items() if pid not in before[host]} for host in lab.hosts}
        starts = {host: min(workers.values()) for host, workers in new.items() if workers}
        reloaded_all = len(starts) == len(lab.hosts)
        ok = run["rc"] == 0 and reloaded_all and len(set(colours.values())) == 1
        published = run["timeline"].get("published") or {}
        record = {"n": len(lab.hosts), "method": method, "i": index, "ok": ok, "rc": run["rc"],
                  "wall_s": run["wall_s"], "served_after": colours,
                  "starts": {h: round(t, 3) for h, t in starts.items()},
                  # Start times have 10 ms resolution: the skew is rounded to the millisecond.
                  "skew_s": round(max(starts.values()) - min(starts.values()), 3) if reloaded_all else None,
                  "reported_skew_s": published.get("bluegreen_reload_skew_s"),
                  "timeline_summary": timeline.aggregate([run["timeline"]])["summary"]
                  if run["timeline"].get("tasks") else None}
        if not ok:
            record["msg"] = (failure_text(run["output"]) if run["rc"] else
                             f"reloaded {sorted(starts)} of {lab.hosts}; served afterwards {colours}")
        log(f"fleet N={len(lab.hosts)} {method}: rc {run['rc']}, {run['wall_s']:.2f} s, skew "
            f"{'-' if record['skew_s'] is None else round(1000 * record['skew_s'])} ms, served "
            f"{sorted(set(colours.values()), key=str)}")
        records.append(record)
        if not ok:
            break  # the fleet may be split: later runs of this size would measure the repair
        time.sleep(0.5)
    return records


def measure(n, args, sizes, two_phase, out):
    """Start n load balancers, run the phases that use n of them, remove them."""
    log(f"starting {n} load balancers")
    began = time.monotonic()
    with sshfleet.fleet(n) as lab:
        log(f"{n} load balancers ready in {time.monotonic() - began:.1f} s ({lab.timings})")
        if n == SSH_LBS and args.ssh_runs:
            records, rows, stopped, load = ssh_phase(lab, args.ssh_runs)
            if load.clock_same:
                add_all_new_after(records, rows)
            else:
                out["ssh"]["stopped"] = "lb1's monotonic clock is not this machine's: no all-new-after"
            out["ssh"]["runs"] = records
            out["ssh"]["load"].update(requests=len(rows), errors=sum(1 for row in rows if row[4]),
                                      clock_same=load.clock_same, clock_check_window_s=round(load.clock_window_s, 3))
            if stopped:
                out["ssh"]["stopped"] = stopped
        if n in sizes:
            out["fleet"]["runs"] += fleet_runs(lab, args.fleet_runs, two_phase)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ssh-runs", type=int, default=3, help="switch+rollback pairs over SSH (0: no ssh phase)")
    parser.add_argument("--sizes", default="1,3,10", help="fleet sizes (empty: no fleet phase)")
    parser.add_argument("--fleet-runs", type=int, default=3, help="switches per size and method")
    parser.add_argument("--json", required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit("ssh_fleet: terminated"))
    sizes = [int(n) for n in args.sizes.split(",") if n.strip()]
    two_phase = two_phase_supported()
    settings = {"ansible_connection": "ssh", "pipelining": True, "ControlPersist": "60s",
                "forks": "max(N, 5)", "masters closed before each run": True}
    out = {}
    if args.ssh_runs:
        out["ssh"] = {"lbs": SSH_LBS, "image": sshfleet.IMAGE, "settings": settings, "runs": [],
                      "backends": "each load balancer's own nginx on its loopback (127.0.0.1:8081 blue, :8082 "
                                  "green); probes run on lb1",
                      "load": {"target": "lb1's public port 80, from inside lb1 (its loopback)", **SSH_LOAD}}
    if sizes:
        out["fleet"] = {"sizes": sizes, "runs": [], "two_phase_in_role": two_phase, "notes": [],
                        "settings": "ssh, pipelining, ControlPersist 60s, forks max(N, 5), SSH masters closed "
                                    "before each run"}
        if not two_phase:
            out["fleet"]["notes"].append("this tree's switch role has no `switch_two_phase`: two-phase not measured")
    for n in sorted(set(sizes) | ({SSH_LBS} if args.ssh_runs else set())):
        began = time.monotonic()
        for attempt in (1, 2):
            kept = len(out["fleet"]["runs"]) if "fleet" in out else 0
            try:
                measure(n, args, sizes, two_phase, out)
                break
            except (sshfleet.FleetError, TimeoutError, subprocess.TimeoutExpired) as exc:
                if "fleet" in out:
                    del out["fleet"]["runs"][kept:]  # the second attempt measures this size again
                # The lab, not the collection: a container that did not come up in time on a busy machine.
                what = str(exc).strip().splitlines()[0][:300]
                log(f"N={n}: the lab failed (attempt {attempt}): {what}")
                out.setdefault("lab_failures", []).append({"n": n, "attempt": attempt, "error": what})
        out.setdefault("lab_s", {})[str(n)] = round(time.monotonic() - began, 1)  # start, runs, removal
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
