# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Benchmark-only callback: one JSON line per playbook, play, task and host event, with its time.

Enabled only by the benchmark (bench/timeline.py sets ANSIBLE_CALLBACK_PLUGINS to this folder and
ANSIBLE_CALLBACKS_ENABLED=bench_timeline); not part of the collection. Writes to the file named by
BENCH_TIMELINE_FILE. Every ``t`` is CLOCK_MONOTONIC (``time.monotonic()``), which is one clock for
every process on the machine, so the benchmark can set these times against its own process launch
and its load clients' request records.

From a module's result it keeps only the figures the module measured itself (``timings``, top-level
``*_ms``, the instants ``reloaded_at``/``applied_at``/``committed_at``): module-internal time.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_timeline
type: aggregate
short_description: JSON lines with the time of every task and host result (benchmark only)
description:
  - Used by bench/bench.py to tell Ansible's own time from the modules' time.
requirements:
  - BENCH_TIMELINE_FILE in the environment
"""

# Result fields worth keeping: what a module measured about itself.
INSTANTS = ("reloaded_at", "applied_at", "committed_at", "commit_at", "staged", "changed")


def _figures(result):
    """The module's own time figures from one result dict (small; never the whole result)."""
    if not isinstance(result, dict):
        return {}
    found = {}
    timings = result.get("timings")
    if isinstance(timings, dict):
        numbers = {k: v for k, v in timings.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if numbers:
            found["timings"] = numbers
    for key, value in result.items():
        if key.endswith("_ms") and isinstance(value, (int, float)) and not isinstance(value, bool):
            found[key] = value
    for key in INSTANTS:
        if key in result and isinstance(result[key], (str, int, float, bool)):
            found[key] = result[key]
    # A loop: the items' figures, in order.
    items = result.get("results")
    if isinstance(items, list):
        per_item = [_figures(item) for item in items if isinstance(item, dict)]
        if any(per_item):
            found["items"] = per_item
    return found


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timeline"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("BENCH_TIMELINE_FILE")
        self._handle = open(self._path, "a", encoding="utf-8") if self._path else None  # noqa: SIM115
        self._emit("callback_loaded")

    def _emit(self, event, **fields):
        if self._handle is None:
            return
        fields.update(ev=event, t=time.monotonic())
        self._handle.write(json.dumps(fields, default=str) + "\n")
        self._handle.flush()

    @staticmethod
    def _task_fields(task):
        role = getattr(task, "_role", None)
        return {"uuid": task._uuid, "name": task.get_name(), "action": task.action,
                "role": role.get_name() if role is not None else None}

    def v2_playbook_on_start(self, playbook):
        self._emit("playbook_start", playbook=os.path.basename(getattr(playbook, "_file_name", "") or ""))

    def v2_playbook_on_play_start(self, play):
        self._emit("play_start", name=play.get_name())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._emit("task_start", **self._task_fields(task))

    def v2_playbook_on_handler_task_start(self, task):
        self._emit("task_start", handler=True, **self._task_fields(task))

    def v2_playbook_on_include(self, included_file):
        self._emit("include", path=os.path.basename(str(getattr(included_file, "_filename", ""))),
                   hosts=[host.name for host in getattr(included_file, "_hosts", [])])

    def v2_runner_on_start(self, host, task):
        self._emit("host_start", uuid=task._uuid, host=host.get_name())

    def _result(self, result, status):
        task = getattr(result, "task", None) or result._task
        host = getattr(result, "host", None) or result._host
        body = getattr(result, "result", None)
        if body is None:
            body = result._result
        self._emit("host_end", uuid=task._uuid, host=host.get_name(), status=status, figures=_figures(body))

    def v2_runner_on_ok(self, result):
        self._result(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._result(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._result(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        # What the playbook published with set_stats (the AWX contract: live colour, reload skew...).
        custom = (getattr(stats, "custom", None) or {}).get("_run") or {}
        published = {k: v for k, v in custom.items()
                     if k.startswith("bluegreen_") and isinstance(v, (str, int, float, bool, type(None)))}
        self._emit("stats", published=published)
        if self._handle is not None:
            self._handle.close()
            self._handle = None
