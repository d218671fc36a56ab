# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""HAProxy's running state: the admin-socket client and what its answers mean.

``RuntimeApi`` sends one command per connection over the admin UNIX socket; the parsers
turn ``show servers state``, ``show stat`` and ``show info`` into dicts, and the views
(``runtime_view``, ``effective_state``) say what a server's row means for traffic.
"""

from __future__ import annotations

import errno
import os
import socket
import stat

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import ExternalError

# srv_admin_state bits (HAProxy include/haproxy/server-t.h).
ADMF_FMAINT = 0x01
ADMF_IMAINT = 0x02
ADMF_CMAINT = 0x04  # set by `disabled` in the configuration; alone it does not stop traffic
ADMF_FDRAIN = 0x08
ADMF_IDRAIN = 0x10
ADMF_RMAINT = 0x20
ADMF_HMAINT = 0x40
MAINT_MASK = ADMF_FMAINT | ADMF_IMAINT | ADMF_RMAINT | ADMF_HMAINT
DRAIN_MASK = ADMF_FDRAIN | ADMF_IDRAIN
OP_STATES = {0: "down", 1: "starting", 2: "up", 3: "stopping"}


class RuntimeApiError(ExternalError):
    """The admin socket could not be used; the message names the fix."""


class RuntimeApi:
    """HAProxy's runtime API over its admin UNIX socket: one command per connection."""

    def __init__(self, path, timeout=5.0):
        self.path = path
        self.timeout = timeout
        self.sent = []

    def _explain(self, exc):
        hint = f"add 'stats socket {self.path} mode 660 level admin' to the global section of HAProxy's configuration"
        if isinstance(exc, FileNotFoundError):
            return (f"admin socket {self.path} does not exist: HAProxy is not running, or its configuration has no "
                    f"admin socket there ({hint}, then restart HAProxy), or set admin_socket to the right path")
        if isinstance(exc, PermissionError):
            try:
                info = os.stat(self.path)
                owner = f"owner uid {info.st_uid}, group gid {info.st_gid}, mode {stat.S_IMODE(info.st_mode):o}"
            except OSError:
                owner = "owner unknown"
            return (f"permission denied on admin socket {self.path} ({owner}) for uid {os.geteuid()}: run the task "
                    "with become (root) or as a member of that group, or widen the socket's 'mode'/'group' in the "
                    "stats socket line")
        if isinstance(exc, ConnectionRefusedError):
            return (f"nothing answers on admin socket {self.path} (a stale socket file?): HAProxy is not running; "
                    "start it")
        if isinstance(exc, socket.timeout):
            return f"HAProxy did not answer on admin socket {self.path} within {self.timeout} s"
        if getattr(exc, "errno", None) == errno.ENOTSOCK:
            return f"admin socket {self.path} is not a socket: set admin_socket to HAProxy's stats socket"
        return f"admin socket {self.path}: {exc}"

    def execute(self, command):
        """Send one command and return HAProxy's whole answer (text)."""
        self.sent.append(command)
        chunks = []
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(self.timeout)
                conn.connect(self.path)
                conn.sendall(command.encode("ascii") + b"\n")
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except OSError as exc:
            raise RuntimeApiError(self._explain(exc)) from None
        answer = b"".join(chunks).decode("utf-8", errors="replace")
        if "Permission denied" in answer and "level" not in command:
            raise RuntimeApiError(
                f"HAProxy refused '{command}' on {self.path}: the socket is not at admin level; "
                "use 'level admin' on its stats socket line"
            )
        return answer

    def command(self, command):
        """A command that answers nothing on success; RuntimeApiError with HAProxy's text otherwise."""
        answer = self.execute(command).strip()
        if answer:
            raise RuntimeApiError(f"HAProxy refused '{command}': {answer}")

    def servers_state(self, backend):
        """Rows of ``show servers state <backend>`` (None: the running HAProxy has no such backend)."""
        answer = self.execute(f"show servers state {backend}")
        if "Can't find backend" in answer:
            return None
        return parse_servers_state(answer)

    def stat(self):
        return parse_stat(self.execute("show stat"))

    def info(self):
        return parse_info(self.execute("show info"))


def parse_servers_state(text):
    """``show servers state`` (format version 1) -> list of dicts keyed by the header's column names."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = None
    rows = []
    for line in lines:
        if line.startswith("#"):
            header = line[1:].split()
            continue
        if header is None:
            continue  # the version line
        fields = line.split()
        if len(fields) < 9:
            continue
        rows.append(dict(zip(header, fields)))
    return rows


def parse_stat(text):
    """``show stat`` CSV -> list of dicts."""
    header = None
    rows = []
    for line in text.splitlines():
        if line.startswith("# "):
            header = line[2:].split(",")
        elif header and line.strip():
            rows.append(dict(zip(header, line.split(","))))
    return rows


def parse_info(text):
    info = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    return info


def effective_state(row):
    """What a runtime row means for traffic: {state: ready|drain|maint, weight, health, admin, sessions?}."""
    admin = int(row.get("srv_admin_state", "0"))
    weight = int(row.get("srv_uweight", "0"))
    if admin & MAINT_MASK:
        state = "maint"
    elif admin & DRAIN_MASK or weight == 0:
        state = "drain"
    else:
        state = "ready"
    return {
        "state": state,
        "weight": weight,
        "health": OP_STATES.get(int(row.get("srv_op_state", "0")), "unknown"),
        "admin_state": admin,
        "address": "{}:{}".format(row.get("srv_addr"), row.get("srv_port")),
    }


def runtime_view(rows):
    return {row["srv_name"]: effective_state(row) for row in rows}


def runtime_colours(view, servers):
    """Colours with at least one server taking traffic in ``view`` (``servers``: name -> {colour})."""
    colours = []
    for name, entry in view.items():
        colour = servers.get(name, {}).get("colour") or name.rsplit("-", 1)[0]
        if entry["state"] == "ready" and colour not in colours:
            colours.append(colour)
    return sorted(colours)


def describe_state(entry):
    return "ready weight {}".format(entry["weight"]) if entry["state"] == "ready" else entry["state"]


def current_sessions(stat_rows, backend, servers):
    wanted = set(servers)
    sessions = {}
    for row in stat_rows:
        if row.get("pxname") == backend and row.get("svname") in wanted:
            sessions[row["svname"]] = int(row.get("scur") or 0)
    return sessions


def state_file_text(answer):
    """What to store as a server-state file from a ``show servers state`` answer."""
    text = answer.strip("\n") + "\n"
    return text if text.startswith("1") else "1\n"
