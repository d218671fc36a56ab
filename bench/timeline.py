# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Where an ansible-playbook run's seconds go: its bench_timeline events, one run and over runs.

bench/callback_plugins/bench_timeline.py writes the events (CLOCK_MONOTONIC, one clock for every
process); the benchmark adds the launch and exit of the ansible-playbook process. From those:

  start-up          launch -> the callback is loaded (interpreter, imports, CLI, inventory), then
                    -> the first task starts (playbook and play loading)
  a task            from its start to the next task's start (so the rows add up to the wall time;
                    what Ansible does between two tasks, includes and conditionals, is in the row
                    of the task before), of which the module's own measured time (``timings``
                    ``total_ms``, else ``elapsed_ms``: the module's own clock, its interpreter
                    start-up and Ansible's transfer not included) when it reports one
  after the tasks   the last task's end -> the process exited (stats, callbacks, exit)
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"


def ansible_env(path):
    """Environment entries that make ansible-playbook write its timeline to ``path``."""
    return {"ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS), "ANSIBLE_CALLBACKS_ENABLED": "bench_timeline",
            "BENCH_TIMELINE_FILE": str(path)}


def module_ms(figures):
    """The module's own measured time in one host result, or None."""
    if not figures:
        return None
    timings = figures.get("timings") or {}
    if "total_ms" in timings:
        return float(timings["total_ms"])
    if "elapsed_ms" in figures:
        return float(figures["elapsed_ms"])
    items = [module_ms(item) for item in figures.get("items", [])]
    items = [v for v in items if v is not None]
    return sum(items) if items else None


def parse(path, launch, exit_, rc):
    """One run: start-up, tasks (with per-host results), the end. Times in seconds from the launch."""
    events = []
    try:
        with open(path, encoding="utf-8") as handle:
            events = [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError):
        return {"rc": rc, "wall_s": exit_ - launch, "events": 0}
    tasks, by_uuid = [], {}
    play = None
    marks = {}
    for event in events:
        kind, t = event["ev"], event["t"] - launch
        if kind in ("callback_loaded", "playbook_start", "stats") and kind not in marks:
            marks[kind] = t
            if kind == "stats":
                marks["published"] = event.get("published") or {}
        elif kind == "play_start":
            play = event["name"]
            marks.setdefault("first_play_start", t)
        elif kind == "task_start":
            task = {"name": event["name"], "role": event["role"], "action": event["action"], "play": play,
                    "start": t, "hosts": {}}
            tasks.append(task)
            by_uuid[event["uuid"]] = task  # a task that runs again (an include) gets its new start
        elif kind in ("host_start", "host_end") and event["uuid"] in by_uuid:
            host = by_uuid[event["uuid"]]["hosts"].setdefault(event["host"], {})
            if kind == "host_start":
                host.setdefault("start", t)
            else:
                host.update(end=t, status=event["status"], figures=event.get("figures") or {})
    wall = exit_ - launch
    for index, task in enumerate(tasks):
        ends = [h["end"] for h in task["hosts"].values() if "end" in h]
        task["end"] = max(ends) if ends else task["start"]
        task["span"] = (tasks[index + 1]["start"] if index + 1 < len(tasks) else task["end"]) - task["start"]
        statuses = {h.get("status") for h in task["hosts"].values()}
        task["ran"] = bool(statuses - {"skipped", None})
        own = [module_ms(h.get("figures")) for h in task["hosts"].values()]
        own = [v for v in own if v is not None]
        # Hosts run in parallel: the slowest host's own time is what the task waited for.
        task["module_ms"] = max(own) if own else None
    record = {"rc": rc, "wall_s": wall, "events": len(events), "tasks": tasks,
              "callback_loaded_s": marks.get("callback_loaded"), "playbook_start_s": marks.get("playbook_start"),
              "first_task_s": tasks[0]["start"] if tasks else None,
              "last_task_end_s": max((t["end"] for t in tasks), default=None), "stats_s": marks.get("stats"),
              "published": marks.get("published", {})}
    return record


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# Instants in task names ("Commit on every load balancer at 2026-11-29T19:33:55.120Z") differ per run.
INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?")


def task_key(task, seen):
    """(play, role, name, n-th time in the run): the same task of the same flow in every run."""
    base = (task["play"], task["role"], INSTANT.sub("<time>", task["name"]))
    seen[base] = seen.get(base, 0) + 1
    return (*base, seen[base])


def aggregate(runs):
    """Median over runs of each row; None when no run had a timeline."""
    runs = [r for r in runs if r.get("tasks")]
    if not runs:
        return None
    rows, order = {}, []
    for run in runs:
        seen = {}
        for task in run["tasks"]:
            key = task_key(task, seen)
            if key not in rows:
                rows[key] = {"play": key[0], "role": key[1], "name": key[2], "n": key[3], "action": task["action"],
                             "spans": [], "module": [], "ran": 0, "runs": 0, "hosts": 0}
                order.append(key)
            row = rows[key]
            row["runs"] += 1
            row["ran"] += task["ran"]
            row["hosts"] = max(row["hosts"], len(task["hosts"]))
            row["spans"].append(task["span"])
            row["module"].append(task["module_ms"])
    table = []
    for key in order:
        row = rows[key]
        table.append({"play": row["play"], "role": row["role"], "name": row["name"], "n": row["n"],
                      "action": row["action"], "runs": row["runs"], "ran_in": row["ran"], "hosts": row["hosts"],
                      "span_ms": 1000 * _median(row["spans"]), "module_ms": _median(row["module"])})

    def per_run(fn):
        return _median([fn(run) for run in runs])

    def own_sum(run, predicate=lambda task: True):
        return sum(t["module_ms"] for t in run["tasks"] if t["module_ms"] is not None and predicate(t)) / 1000

    def is_http(task):
        return task["action"].endswith("http_check")

    summary = {
        "runs": len(runs),
        "wall_s": per_run(lambda r: r["wall_s"]),
        "startup_s": per_run(lambda r: r["callback_loaded_s"]),
        "load_s": per_run(lambda r: r["first_task_s"] - r["callback_loaded_s"]
                          if r["first_task_s"] is not None and r["callback_loaded_s"] is not None else None),
        "first_task_s": per_run(lambda r: r["first_task_s"]),
        "tasks_s": per_run(lambda r: r["last_task_end_s"] - r["first_task_s"]),
        "after_s": per_run(lambda r: r["wall_s"] - r["last_task_end_s"]),
        "module_s": per_run(own_sum),
        "http_check_s": per_run(lambda r: own_sum(r, is_http)),
        "http_check_span_s": per_run(lambda r: sum(t["span"] for t in r["tasks"] if is_http(t))),
        "tasks_run": per_run(lambda r: sum(1 for t in r["tasks"] if t["ran"])),
        "tasks_skipped": per_run(lambda r: sum(1 for t in r["tasks"] if not t["ran"])),
        "skipped_span_s": per_run(lambda r: sum(t["span"] for t in r["tasks"] if not t["ran"])),
    }
    summary["overhead_s"] = (summary["wall_s"] - summary["module_s"]) if summary["module_s"] is not None else None
    return {"summary": summary, "tasks": table}
