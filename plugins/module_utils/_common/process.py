# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Processes as /proc shows them: children of a master, and whether a pid still lives.

Shared by the routers that watch a master process's worker generations (nginx) or a
program's pid (HAProxy's reload).
"""

from __future__ import annotations

import os


def read_children(pid, proc="/proc"):
    """Pids whose parent is ``pid`` (from /proc/<n>/stat)."""
    children = set()
    try:
        entries = os.listdir(proc)
    except OSError:
        return children
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "stat")) as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: parse after the last ')'.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid):
            children.add(int(entry))
    return children


def process_alive(pid, proc="/proc"):
    try:
        with open(os.path.join(proc, str(pid), "stat")) as handle:
            fields = handle.read().rsplit(")", 1)[-1].split()
    except OSError:
        return False
    # A zombie has exited.
    return bool(fields) and fields[0] != "Z"
