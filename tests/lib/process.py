"""Process facts from /proc for the test and benchmark helpers (Linux only)."""

from __future__ import annotations

import os


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the parenthesised command (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[-1].split()
    except OSError:
        return None


def alive(pid: int) -> bool:
    """True while pid exists and is not a zombie (an exited child its parent has not reaped yet)."""
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] != "Z"


def children_of(pid: int) -> set[int]:
    """Pids whose parent is pid and that are still running (zombies left out)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(entry)
        if fields and len(fields) > 1 and fields[1] == str(pid) and fields[0] != "Z":
            found.add(int(entry))
    return found
