# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one of the collection's playbooks as its own ansible-playbook process and record the outcome.

    python3 molecule/shared/run_playbook.py --record OUT.json -- playbooks/deploy.yml -e @vars.json

The failure scenarios need a deploy that FAILS while Molecule's converge goes on, and
they need to see exactly how it failed. The playbook runs with Molecule's own
environment (ANSIBLE_CONFIG, so the scenario's inventory and connection settings) and
the ansible.posix.json callback; OUT.json gets:

  rc             ansible-playbook's exit code
  duration_s     wall time of the run
  failures       every failed task result in order: {task, host, msg} (ignored ones too)
  fatal          the failed results of hosts that ended with failures (the play's verdict)
  messages       every debug message and passed assert's message: {task, host, msg}
  stats          per-host counters (ok, changed, failures, ...)
  custom_stats   what the playbook published with set_stats (for AWX workflows)
  facts          the last value set_fact gave each fact named with --fact, per host

The full JSON output is kept next to it (OUT.raw.json) for debugging. Always exits 0
unless ansible-playbook could not be run or printed no JSON: the verifier judges.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def summarise(output: dict, rc: int, duration: float, fact_names: list[str]) -> dict:
    failures, messages = [], []
    facts: dict[str, dict] = {name: {} for name in fact_names}
    for play in output.get("plays", []):
        for task in play.get("tasks", []):
            name = task["task"]["name"]
            for host, result in task.get("hosts", {}).items():
                if result.get("failed"):
                    failures.append({"task": name, "host": host, "msg": str(result.get("msg", ""))})
                elif result.get("action") in ("debug", "ansible.builtin.debug", "assert", "ansible.builtin.assert") \
                        and "msg" in result:
                    messages.append({"task": name, "host": host, "msg": result["msg"]})
                for fact in fact_names:
                    if fact in (result.get("ansible_facts") or {}):
                        facts[fact][host] = result["ansible_facts"][fact]
    stats = output.get("stats", {})
    failed_hosts = {host for host, counts in stats.items() if counts.get("failures") or counts.get("unreachable")}
    # A run_once failure is recorded for one host but fails all of them: the last
    # failed result of any failed host is the play's verdict for that host.
    fatal = []
    for failure in reversed(failures):
        if failure["host"] in failed_hosts and all(f["host"] != failure["host"] for f in fatal):
            fatal.insert(0, failure)
    if rc != 0 and not fatal and failures:
        fatal = [failures[-1]]
    return {
        "rc": rc,
        "duration_s": round(duration, 1),
        "failures": failures,
        "fatal": fatal,
        "messages": messages,
        "stats": stats,
        "custom_stats": output.get("global_custom_stats", {}),
        "facts": facts,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--record", required=True, type=Path, help="where to write the summary (JSON)")
    parser.add_argument("--fact", action="append", default=[], help="a fact to record (repeat)")
    parser.add_argument("playbook_args", nargs=argparse.REMAINDER, help="-- then ansible-playbook's arguments")
    args = parser.parse_args(argv)
    playbook_args = args.playbook_args[1:] if args.playbook_args[:1] == ["--"] else args.playbook_args

    env = dict(os.environ)
    env.update({
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_SHOW_CUSTOM_STATS": "true",
        "ANSIBLE_NOCOLOR": "1",
    })
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)  # profile_tasks and the like would print text into the JSON
    binary = Path(sys.executable).with_name("ansible-playbook")
    started = time.monotonic()
    # The arguments come from the scenario's own playbook, never from outside input.
    proc = subprocess.run([str(binary), *playbook_args], env=env, capture_output=True, text=True, check=False)  # noqa: S603
    duration = time.monotonic() - started

    raw = args.record.with_suffix(".raw.json")
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(proc.stdout, encoding="utf-8")
    start = proc.stdout.find("{")
    if start < 0:
        sys.stderr.write(f"ansible-playbook printed no JSON (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n")
        return 1
    summary = summarise(json.loads(proc.stdout[start:]), proc.returncode, duration, args.fact)
    summary["stderr_tail"] = proc.stderr[-2000:]
    args.record.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps({k: summary[k] for k in ("rc", "duration_s", "fatal")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
