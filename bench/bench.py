# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Zero-downtime benchmark: switching methods side by side, under the same load, in one run.

    build/venv/bin/python bench/bench.py [--quick] [--results DIR] [--docs DIR]

(``bash bench/run.sh`` sets up the venv and calls this; ``make bench`` calls that.)
Everything listens on 127.0.0.1; every load loop is bounded in time and count and stops by itself.
Raw data goes to bench/results/<stamp>/, the summary and plots to docs/benchmarks.md and docs/img/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# The bench modules, and the repository for tests/lib (the servers and module runner it shares with the tests).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import analyse
import methods
import servers

from tests.lib.process import alive

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

# Load per client kind: requests per second (all its connections together) and connections.
# Moderate on purpose: 2 cores run the clients, both nginx instances and the switching tools.
LOAD = {"new": (300, 8), "ka_retry": (300, 16), "ka_noretry": (300, 16)}

# playbooks: switch.yml, rollback.yml and the floor's minimal_rollback.yml in turn (9: three of each, for the
# per-task medians; floor_start.yml once per round, between two switches);
# ssh: switch.yml + rollback.yml pairs over SSH to 3 LB containers; fleet: switches per fleet size and method.
FULL = {"module": 100, "symlink": 100, "template": 6, "playbooks": 9, "haproxy": 40, "dns": 3, "ssh": 3, "fleet": 3}
QUICK = {"module": 10, "symlink": 10, "template": 2, "playbooks": 3, "haproxy": 10, "dns": 1, "ssh": 1, "fleet": 1}
FLEET_SIZES = (1, 3, 10)
# The SSH and fleet phases (bench/ssh_fleet.py, containers): bound quick, full in seconds (see run.sh).
SSH_FLEET_LIMIT_S = (900, 1500)
GAP_S = 0.35          # steady traffic between two switches
WARMUP_S = 1.0
TAIL_S = 0.6
PHASE_LIMIT_S = 1500  # hard bound of one phase's load processes (they are stopped as soon as it ends)
MAX_FAILURES = 3
COMMAND_LIMIT_S = 300  # one switch command (ansible-playbook) at most

# Phases that are scripts of their own (each starts its own lab or moto_server), run as a child
# process group: (script, arguments quick, arguments full, time bound quick, full in seconds).
# The bounds are 3x or more the scripts' durations (quick measured: alb 7 s, eda 78 s,
# progressive 41 s; full estimated from them: about 25 s, 5 min, 2-3 min; see run.sh).
SCRIPT_PHASES = {
    "alb": ("alb_calls.py", ["--runs", "3"], ["--runs", "10"], 240, 300),
    "eda": ("eda_rollback.py", ["--quick"], [], 300, 900),
    "progressive": ("progressive.py", ["--quick"], [], 300, 900),
}


def cpu_times():
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


class Load:
    """The three client kinds, one process each, against one port."""

    def __init__(self, port, outdir, tag):
        self.port = port
        self.outdir = Path(outdir)
        self.tag = tag
        self.procs = {}
        self.files = {}

    def start(self):
        for kind, (rate, conns) in LOAD.items():
            out = self.outdir / f"{self.tag}-{kind}.csv"
            self.files[kind] = str(out)
            self.procs[kind] = subprocess.Popen(
                [sys.executable, str(BENCH / "load_client.py"), "--kind", kind, "--port", str(self.port),
                 "--rate", str(rate), "--conns", str(conns), "--max-seconds", str(PHASE_LIMIT_S),
                 "--max-requests", str(int(rate * PHASE_LIMIT_S)), "--out", str(out)],
            )
        self.t_start = time.monotonic()
        self.cpu_start = cpu_times()
        return self

    def stop(self):
        self.t_stop = time.monotonic()
        total, idle = cpu_times()
        busy = (total - self.cpu_start[0]) - (idle - self.cpu_start[1])
        self.cpu_busy = busy / max(1, total - self.cpu_start[0])
        usage = {}
        for proc in self.procs.values():
            proc.terminate()
        for kind, proc in self.procs.items():
            _pid, _status, rusage = os.wait4(proc.pid, 0)
            proc.returncode = 0
            usage[kind] = {"cpu_s": rusage.ru_utime + rusage.ru_stime}
        self.usage = usage
        for kind, path in self.files.items():
            if not Path(path).exists():
                raise RuntimeError(f"client {kind} wrote no records ({path})")

    def kill(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


class WorkerWatch(threading.Thread):
    """Poll until every worker of the previous nginx generation has exited (every 5 ms).

    Bounded: it gives up ``timeout`` seconds after the switch command returned (``done()``), or
    after COMMAND_LIMIT_S in any case.
    """

    def __init__(self, old_workers, timeout=40.0):
        super().__init__(daemon=True)
        self.old = set(old_workers)
        self.timeout = timeout
        self.t_gone = None
        self.deadline = time.monotonic() + COMMAND_LIMIT_S + timeout

    def done(self):
        self.deadline = min(self.deadline, time.monotonic() + self.timeout)

    def run(self):
        while time.monotonic() < self.deadline:
            if not any(alive(pid) for pid in self.old):
                self.t_gone = time.monotonic()
                return
            time.sleep(0.005)


def other(colour):
    return "green" if colour == "blue" else "blue"


def run_phase(method, router, count, results, log):
    """Set the router to blue, start the load, switch ``count`` times back and forth, stop the load."""
    method.setup("blue")
    if router is not None:
        settle(router)
    load = Load(router.port if router is not None else method.port, results, method.key).start()
    try:
        switches = switch_under_load(method, router, count, log)
    except BaseException:
        load.kill()
        raise
    time.sleep(TAIL_S)
    load.stop()
    log(f"  {method.label}: {len(switches)} switches, load {load.t_stop - load.t_start:.1f} s, "
        f"CPU busy {load.cpu_busy:.0%}")
    return {"key": method.key, "label": method.label, "router": "haproxy" if router is None else "nginx",
            "load_files": load.files, "t_load_start": load.t_start, "t_load_stop": load.t_stop,
            "switches": switches, "usage": load.usage, "cpu_busy": load.cpu_busy}


def switch_under_load(method, router, count, log):
    time.sleep(WARMUP_S)
    colour = "blue"
    switches = []
    failures = 0
    for index in range(count):
        target = other(colour)
        watch = WorkerWatch(router.worker_pids()) if router is not None else None
        t_start = time.monotonic()
        if watch:
            watch.start()
        tool = method.switch(target)
        t_end = time.monotonic()
        if watch:
            watch.done()
            watch.join()
        switches.append({"i": index, "from": colour, "to": target, "t_start": t_start, "t_end": t_end,
                         "t_gone": watch.t_gone if watch else None, "tool": tool})
        if not tool.get("ok"):
            # Counted as a failed switch; the next attempt starts from the colour that stayed live.
            log(f"  switch {index} {colour}->{target} FAILED: {tool.get('msg', '')[-600:]}")
            failures += 1
            if failures >= MAX_FAILURES:
                log(f"  {failures} failed switches: stopping this phase")
                break
            time.sleep(GAP_S)
            continue
        colour = target
        time.sleep(GAP_S)
        # A method's timed run that switches nothing (the playbooks' floor_start.yml), in the gap after a switch;
        # kept with that switch, outside its window (the next switch starts after it).
        between = method.between() if hasattr(method, "between") else None
        if between:
            switches[-1]["between"] = between
            if not between["ok"]:
                log(f"  {between['playbook']} FAILED: {between['msg'][-600:]}")
            time.sleep(GAP_S)
    return switches


def settle(lb):
    """Reload so the freshly set up files are live, and wait for the previous workers to exit."""
    old = lb.worker_pids()
    result = lb.reload()
    if result.returncode != 0:
        raise RuntimeError(f"nginx reload failed: {result.stderr}")
    lb.wait_drained(old, timeout=30)
    time.sleep(0.2)


def broken_inputs(lb, method_list, log):
    """The same typo through every approach: what each leaves behind."""
    found = {}
    for method in method_list:
        method.setup("blue")
        settle(lb)
        info = method.broken("green")
        served = []
        for _index in range(5):
            served.append(lb_colour(lb.port))
        info["served_after"] = sorted(set(served))
        found[method.key] = info
        log(f"  broken input via {method.label}: {info}")
    return found


def lb_colour(port):
    import http.client  # noqa: PLC0415 - only used here

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return response.getheader("X-App-Color", f"status {response.status}")
    except OSError as exc:
        return f"error {type(exc).__name__}"
    finally:
        conn.close()


def script_phase(name, quick, results, log):
    """Run one SCRIPT_PHASES script, bounded; its figures, or why there are none (never invented)."""
    script, quick_args, full_args, quick_limit, full_limit = SCRIPT_PHASES[name]
    limit = quick_limit if quick else full_limit
    out = results / f"{name}.json"
    argv = [sys.executable, str(BENCH / script), *(quick_args if quick else full_args)]
    command = " ".join(["bench/" + script, *argv[2:]])  # as the report shows it
    if name != "alb":  # alb_calls.py prints its JSON on stdout
        argv += ["--json", str(out)]
    log(f"phase {name}: {command} (at most {limit} s)")
    began = time.monotonic()
    # Own process group: on the bound (or when this run is stopped) the script's servers go with it.
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        reason = f"stopped at its bound of {limit} s"
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    else:
        reason = None
    elapsed = time.monotonic() - began
    (results / f"{name}.log").write_text(f"$ {command}\n{stdout}\n--- stderr ---\n{stderr}", encoding="utf-8")
    phase = {"name": name, "command": command, "elapsed_s": round(elapsed, 1), "returncode": proc.returncode}
    if reason is None and proc.returncode != 0:
        last = (stderr.strip() or stdout.strip() or "no output").splitlines()[-1]
        reason = f"exit code {proc.returncode}: {last[:300]}"
    if reason is None:
        try:
            phase["data"] = json.loads(stdout if name == "alb" else out.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            reason = f"no readable results ({exc})"
    phase["ran"] = reason is None
    if reason:
        phase["reason"] = reason
        log(f"  {name} not measured: {reason} (output in {results / (name + '.log')})")
    else:
        log(f"  {name}: done in {elapsed:.1f} s")
    return phase


def bounded_child(argv, limit, log_path):
    """Run argv in its own process group, output to log_path; (returncode, why it was stopped or None).

    At the bound it gets SIGTERM first (the SSH/fleet script removes its containers on the way out), then
    SIGKILL 90 s later.
    """
    reason = None
    with open(log_path, "w", encoding="utf-8") as output:
        proc = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            reason = f"stopped at its bound of {limit} s"
        except BaseException:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=90)
            raise
    return proc.returncode, reason


def ssh_fleet_phases(run, wanted, results, log):
    """The playbooks over SSH (3 LB containers) and the fleet (N = 1, 3, 10), one bounded child process.

    Skipped, with the reason in the report, where the containers cannot run (no podman, no image, not root).
    """
    phases = [name for name in ("ssh", "fleet") if wanted(name)]
    if not phases:
        return
    try:
        from tests.lib import sshfleet  # noqa: PLC0415 - only these phases need it

        reason = sshfleet.usable()
    except ImportError as exc:
        reason = f"tests/lib/sshfleet.py is not usable here ({exc})"
    except (OSError, subprocess.SubprocessError) as exc:
        reason = f"podman did not answer ({exc})"
    if reason:
        for name in phases:
            run[name] = {"ran": False, "reason": reason}
        log(f"ssh/fleet not measured: {reason}")
        return
    counts = run["counts"]
    out = results / "ssh_fleet.json"
    argv = [sys.executable, str(BENCH / "ssh_fleet.py"), "--json", str(out),
            "--ssh-runs", str(counts["ssh"] if "ssh" in phases else 0),
            "--sizes", ",".join(map(str, FLEET_SIZES)) if "fleet" in phases else "",
            "--fleet-runs", str(counts["fleet"])]
    command = " ".join(["bench/ssh_fleet.py", *argv[4:]])
    limit = SSH_FLEET_LIMIT_S[0 if run["quick"] else 1]
    log(f"phase {'+'.join(phases)}: {command} (at most {limit} s)")
    began = time.monotonic()
    returncode, reason = bounded_child(argv, limit, results / "ssh_fleet.log")
    elapsed = time.monotonic() - began
    if reason is None and returncode != 0:
        tail = (results / "ssh_fleet.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()
        reason = f"exit code {returncode}: {(tail or ['no output'])[-1][:300]}"
    try:
        data = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    for name in phases:
        part = data.get(name) or {}
        if part.get("runs"):
            run[name] = {**part, "ran": True, "command": command, "elapsed_s": round(elapsed, 1),
                         "lab_s": data.get("lab_s", {}), "lab_failures": data.get("lab_failures", [])}
            if reason:
                run[name]["stopped"] = reason
        else:
            failures = "; ".join(f"N = {f['n']}: {f['error']}" for f in data.get("lab_failures", []))
            run[name] = {"ran": False, "reason": reason or (f"the lab failed: {failures}" if failures
                                                            else "no runs recorded")}
    log(f"  ssh/fleet: {'done' if reason is None else reason} in {elapsed:.1f} s "
        f"(output in {results / 'ssh_fleet.log'})")


def api_and_script_phases(run, wanted, work, results, log):
    """The phases without the shared nginx load: DNS against moto, then the SCRIPT_PHASES."""
    if wanted("dns"):
        import dns_peer  # noqa: PLC0415

        count = run["counts"]["dns"]
        log(f"DNS: amazon.aws.route53 vs route53_switch, {count} shifts each")
        run["dns"] = dns_peer.run(work / "dns", count, log)
    for name in filter(wanted, SCRIPT_PHASES):
        run[name] = script_phase(name, run["quick"], results, log)


def machine():
    def first(cmd):
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except OSError:
            return "not installed"
        return (proc.stdout + proc.stderr).strip().splitlines()[0] if (proc.stdout + proc.stderr).strip() else ""

    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as handle:
        mem_kb = int(handle.readline().split()[1])
    try:
        with open("/etc/os-release", encoding="utf-8") as handle:
            os_name = next(line.split("=", 1)[1].strip().strip('"') for line in handle
                           if line.startswith("PRETTY_NAME="))
    except (OSError, StopIteration):
        os_name = "unknown"
    import ansible  # noqa: PLC0415
    from ansible.release import __version__ as ansible_core  # noqa: PLC0415

    del ansible
    return {
        "os": os_name, "kernel": " ".join(os.uname()[2:3] + os.uname()[4:5]), "cpu": cpu,
        "cores": os.cpu_count(), "memory_gib": round(mem_kb / 1048576, 1),
        "nginx": first(["/usr/sbin/nginx", "-v"]), "haproxy": first(["haproxy", "-v"]),
        "python": sys.version.split()[0], "ansible_core": ansible_core, "loadavg": loadavg(),
    }


def loadavg():
    with open("/proc/loadavg", encoding="ascii") as handle:
        return " ".join(handle.read().split()[:3])


def main(argv=None):
    parser = argparse.ArgumentParser(description="zero-downtime benchmark")
    parser.add_argument("--quick", action="store_true", help="a few switches per method, short script phases")
    parser.add_argument("--results", default=str(BENCH / "results"))
    parser.add_argument("--docs", default=str(REPO / "docs"))
    parser.add_argument("--only", default="", help="comma-separated phases (module,symlink,template,playbooks,"
                                                   "broken,haproxy,dns,alb,eda,progressive,ssh,fleet); "
                                                   "default all")
    parser.add_argument("--render", metavar="RESULTS_DIR",
                        help="only analyse an earlier run's raw.json and rewrite the docs")
    args = parser.parse_args(argv)
    if args.render:
        return render(json.loads((Path(args.render) / "raw.json").read_text()), Path(args.docs), print)
    counts = QUICK if args.quick else FULL
    only = set(filter(None, args.only.split(",")))

    def wanted(name):
        return not only or name in only

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    results = Path(args.results) / stamp
    results.mkdir(parents=True, exist_ok=True)
    log_file = open(results / "log.txt", "w", encoding="utf-8")  # noqa: SIM115

    def log(message):
        line = f"[{time.monotonic() - began:7.1f}s] {message}"
        print(line, flush=True)
        log_file.write(line + "\n")

    # An outer timeout or Ctrl-C must still stop the servers this run started (the finally below).
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit("bench: terminated"))
    began = time.monotonic()
    command = "make bench-quick" if args.quick else "make bench"
    run = {"started": stamp, "quick": args.quick, "command": command, "counts": counts, "load": LOAD,
           "gap_s": GAP_S, "machine": machine(), "phases": [], "notes": [], "only": sorted(only)}
    work = Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
    backends = servers.Backends(work / "backends")
    lb = servers.LoadBalancer(work / "lb")
    haproxy_router = None
    try:
        backends.start()
        module = methods.NginxUpstreamModule(lb, backends)
        module.setup("blue")
        lb.start()
        log(f"backends on {backends.ports}, nginx load balancer on 127.0.0.1:{lb.port}; work dir {work}")
        nginx_methods = [
            ("module", module),
            ("symlink", methods.SymlinkSwap(lb, backends, work)),
            ("template", methods.TemplatePlaybook(lb, backends, work)),
        ]
        playbooks_ready = all((REPO / "playbooks" / name).exists() for name in ("switch.yml", "rollback.yml"))
        if playbooks_ready:
            nginx_methods.append(("playbooks", methods.SwitchPlaybooks(lb, backends, work)))
        else:
            run["notes"].append("playbooks/switch.yml or rollback.yml missing: that part was not run")
        for name, method in nginx_methods:
            if not wanted(name):
                continue
            log(f"phase {name}: {counts[name]} switches")
            run["phases"].append(run_phase(method, lb, counts[name], results, log))
        if wanted("broken"):
            log("broken input (the same typo through each approach)")
            run["broken"] = broken_inputs(lb, [m for n, m in nginx_methods if n in ("module", "template", "symlink")],
                                          log)
        if wanted("haproxy"):
            import haproxy_router as hap  # noqa: PLC0415

            haproxy_router = hap.HAProxyRouter(work / "haproxy", backends)
            status = haproxy_router.available()
            if status:
                run["notes"].append(status)
                log(status)
            else:
                haproxy_router.start()
                log(f"phase haproxy: {counts['haproxy']} switches")
                run["phases"].append(run_phase(haproxy_router, None, counts["haproxy"], results, log))
        api_and_script_phases(run, wanted, work, results, log)
        ssh_fleet_phases(run, wanted, results, log)
    finally:
        if haproxy_router is not None:
            haproxy_router.stop()
        lb.stop()
        backends.stop()
    run["elapsed_s"] = time.monotonic() - began
    run["loadavg_end"] = loadavg()
    run["results_dir"] = str(results)
    (results / "raw.json").write_text(json.dumps(run, indent=1, default=str))
    log("analysing")
    render(run, Path(args.docs), log)
    shutil.rmtree(work, ignore_errors=True)
    log_file.close()
    return 0


def render(run, docs, log):
    """Analyse the raw run, write summary.json next to the raw data, and the docs page with its plots."""
    import plots  # noqa: PLC0415
    import report  # noqa: PLC0415

    run["analysis"] = [analyse.analyse_phase(phase) for phase in run["phases"]]
    summary = {k: v for k, v in run.items() if k != "phases"}
    (Path(run["results_dir"]) / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    images = plots.draw(run, docs / "img")
    if report.report_fast.draw_fleet(run, docs / "img" / "bench-fleet-skew.png"):
        images["fleet"] = "img/bench-fleet-skew.png"
    progressive = (run.get("progressive") or {}).get("data")
    if progressive and report.draw_progressive(progressive["results"], docs / "img" / "bench-progressive.png"):
        images["progressive"] = "img/bench-progressive.png"
    (docs / "benchmarks.md").write_text(report.render(run, images))
    log(f"wrote {docs / 'benchmarks.md'} and {len(images)} plots; raw data in {run['results_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
