# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Blue-green colours of one HAProxy backend: validate, render, parse, runtime API, switch.

The managed file holds one ``backend`` section whose servers are the pools of every
colour (server names ``<colour>-<n>``). The chosen traffic state is persisted IN that
file (idle servers ``disabled`` or ``weight 0``), so a reload or restart comes back on
the chosen colour; a colour switch with unchanged pools goes through the runtime API
(admin socket), never a reload, and then rewrites the file without reloading. A
per-backend server-state file is kept in step after every change.

Plain Python (the AnsibleModule is only used for ``run_command`` and ``atomic_move``),
so unit tests cover it with stand-ins.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import socket
import stat
import time

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError as UpstreamError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.files import (
    FileSnapshot,
    restore,
    write_atomic,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.pools import validate_name as _validate_name
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.pools import (
    validate_pools as _validate_pools,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.pools import (
    validate_traffic as _validate_traffic,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.process import process_alive
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.switching import (
    ManagedFileSwitch,
    ManagedFormat,
    elapsed_ms,
    lcm,
    now_iso_ms,
    traffic_summary,
    write_error,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.switching import (
    check_programs as _check_programs,
)

MODULE_VERSION = "0.1.0"
DEFAULT_CONF_DIR = "/etc/haproxy/conf.d"
DEFAULT_STATE_DIR = "/var/lib/haproxy"
DEFAULT_ADMIN_SOCKET = "/run/haproxy/admin.sock"
FILE_PREFIX = "bluegreen_"

WEIGHT_MAX = 256  # HAProxy's server weight range is 0-256.
OLD_STATES = ("drain", "maint")
BALANCE_METHODS = ("roundrobin", "static-rr", "leastconn", "first", "source", "random")
DURATION_RE = re.compile(r"^\d+(?:us|ms|s|m|h|d)?\Z")
HEALTH_PATH_RE = re.compile(r"^/[A-Za-z0-9_./~%+=&?:@!,-]{0,255}\Z")
SERVER_OPTION_KEYS = ("check", "inter", "fastinter", "downinter", "rise", "fall", "maxconn", "slowstart")
DURATION_OPTIONS = ("inter", "fastinter", "downinter", "slowstart")
SERVER_OPTION_HINTS = {
    "weight": "weights are managed by the module: use the active or weights option",
    "disabled": "the module renders idle servers disabled itself: see old_state",
    "backup": "backup servers are not supported; each colour is a pool of its own",
}

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


class HaproxyError(ValueError):
    """Invalid input: the message names the option and the fix."""


def default_path(name, conf_dir=DEFAULT_CONF_DIR):
    return os.path.join(conf_dir, f"{FILE_PREFIX}{name}.cfg")


def default_state_file(name, state_dir=DEFAULT_STATE_DIR):
    return os.path.join(state_dir, f"{FILE_PREFIX}{name}.state")


def server_name(colour, index):
    # Colours never contain "-", so "%[srv_name,field(1,-)]" gives the colour back in a header.
    return f"{colour}-{index}"


# --- validation -----------------------------------------------------------------------


def validate_name(value, option):
    try:
        return _validate_name(value, option)
    except UpstreamError as exc:
        raise HaproxyError(str(exc)) from None


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def validate_server_options(options):
    clean = {}
    for key, given in (options or {}).items():
        if key in SERVER_OPTION_HINTS:
            raise HaproxyError(f"server_options.{key} is not allowed: {SERVER_OPTION_HINTS[key]}")
        if key not in SERVER_OPTION_KEYS:
            raise HaproxyError(
                "server_options.{} is not a known server parameter; use {}".format(key, ", ".join(SERVER_OPTION_KEYS))
            )
        if given is None:
            continue
        if key == "check":
            if not isinstance(given, bool):
                raise HaproxyError(f"server_options.check={given!r}: use true or false")
            clean[key] = given
        elif key in DURATION_OPTIONS:
            text = str(given) if _is_int(given) else given
            if not isinstance(text, str) or not DURATION_RE.match(text):
                raise HaproxyError(f"server_options.{key}={given!r}: use an HAProxy duration such as 2s or 500ms")
            clean[key] = text
        else:
            value = int(given) if isinstance(given, str) and given.isdigit() else given
            if not _is_int(value) or value < (0 if key == "maxconn" else 1):
                raise HaproxyError(f"server_options.{key}={given!r}: use an integer >= {0 if key == 'maxconn' else 1}")
            clean[key] = value
    return clean


def haproxy_address(server):
    """HAProxy's spelling of an address accepted by validate_pools (unix:/p -> unix@/p)."""
    return "unix@" + server[5:] if server.startswith("unix:") else server


def validate_traffic(pools, active, weights):
    """The weights (None when one colour is active), within HAProxy's weight range."""
    try:
        return _validate_traffic(pools, active, weights, maximum=WEIGHT_MAX, range_note=" (HAProxy's range)")
    except UpstreamError as exc:
        raise HaproxyError(str(exc)) from None


def build_spec(params):
    """Check the module parameters and return the normalised desired state (a dict).

    Raises HaproxyError with a message for the user; nothing has been touched then.
    """
    name = validate_name(params.get("name"), "name")
    try:
        pools = _validate_pools(params.get("pools"))
    except UpstreamError as exc:
        raise HaproxyError(str(exc)) from None
    for colour in pools:
        if "-" in colour:  # validate_pools allows only A-Z a-z 0-9 _, kept explicit for the header converter
            raise HaproxyError(f"pools colour {colour!r} must not contain '-'")
    active = params.get("active")
    weights = validate_traffic(pools, active, params.get("weights"))
    old_state = params.get("old_state") or "drain"
    if old_state not in OLD_STATES:
        raise HaproxyError(f"old_state={old_state!r}: use drain or maint")
    balance = params.get("balance") or "roundrobin"
    if balance not in BALANCE_METHODS:
        raise HaproxyError("balance={!r}: use one of {}".format(balance, ", ".join(BALANCE_METHODS)))
    health_check_path = params.get("health_check_path")
    if health_check_path is not None and not HEALTH_PATH_RE.match(health_check_path):
        raise HaproxyError(
            f"health_check_path={health_check_path!r}: use an absolute URL path such as /healthz "
            "(no spaces, quotes or #)"
        )
    server_options = validate_server_options(params.get("server_options"))
    if health_check_path is not None:
        server_options.setdefault("check", True)
    return {
        "name": name,
        "pools": pools,
        "active": active,
        "weights": weights,
        "old_state": old_state,
        "balance": balance,
        "health_check_path": health_check_path,
        "server_options": server_options,
        "state_file": params.get("state_file") or None,
    }


# --- desired server states and rendering --------------------------------------------------


def colour_share(spec):
    """Colour -> its weight (active mode: the active colour 1, the others 0)."""
    if spec["active"] is not None:
        return {colour: (1 if colour == spec["active"] else 0) for colour in spec["pools"]}
    return dict(spec["weights"])


def server_states(spec):
    """Server name -> {colour, address, state (ready|drain|maint), weight} in a stable order.

    A colour's weight is its share of the traffic, spread over its servers (weight * L /
    servers, L = least common multiple of the pool sizes, scaled down into 1-256 when
    needed) so pools of different sizes keep the split; equal pools get the weight as is.
    """
    shares = colour_share(spec)
    serving = [colour for colour in spec["pools"] if shares[colour] > 0]
    scale = lcm([len(spec["pools"][colour]) for colour in serving])
    raw = {colour: shares[colour] * scale / len(spec["pools"][colour]) for colour in serving}
    factor = min(1.0, WEIGHT_MAX / max(raw.values()))
    states = {}
    for colour, servers in spec["pools"].items():
        for index, address in enumerate(servers, start=1):
            entry = {"colour": colour, "address": address}
            if colour in raw:
                entry.update(state="ready", weight=max(1, round(raw[colour] * factor)))
            else:
                entry.update(state=spec["old_state"], weight=0)
            states[server_name(colour, index)] = entry
    return states


def _server_line(name, entry, options):
    parts = ["server", name, haproxy_address(entry["address"]), "weight", str(entry["weight"])]
    if options.get("check"):
        parts.append("check")
    for key in SERVER_OPTION_KEYS[1:]:
        if key in options:
            parts.extend((key, str(options[key])))
    if entry["state"] == "maint":
        parts.append("disabled")
    return "    {}\n".format(" ".join(parts))


def render_body(spec):
    """The backend section (without the metadata line) for ``spec``."""
    lines = [f"backend {spec['name']}\n", "    mode http\n", f"    balance {spec['balance']}\n"]
    if spec["state_file"]:
        # A state file of this backend only: the module never rewrites a file other backends load.
        lines.append("    load-server-state-from-file local\n")
        lines.append(f"    server-state-file-name {spec['state_file']}\n")
    if spec["health_check_path"]:
        lines.append("    option httpchk\n")
        lines.append(f"    http-check send meth GET uri {spec['health_check_path']}\n")
    for name, entry in server_states(spec).items():
        lines.append(_server_line(name, entry, spec["server_options"]))
    return "".join(lines)


SETTINGS_KEYS = ("name", "pools", "active", "weights", "old_state", "balance", "health_check_path",
                 "server_options", "state_file")


# The file's format (metadata line, previous_*/switched_at bookkeeping) is shared with nginx_upstream.
FORMAT = ManagedFormat("switchyard.bluegreen.haproxy_backend", SETTINGS_KEYS, MODULE_VERSION, render_body)


def spec_from_metadata(metadata):
    """The spec a managed file was written from (None when the metadata is incomplete)."""
    try:
        spec = {key: metadata[key] for key in SETTINGS_KEYS}
        server_states(spec)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, AttributeError):
        return None
    return spec


# --- runtime API --------------------------------------------------------------------------


class RuntimeApiError(Exception):
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


def _same(desired, current):
    if desired["state"] != current["state"]:
        return False
    return desired["state"] != "ready" or desired["weight"] == current["weight"]


def describe_state(entry):
    return "ready weight {}".format(entry["weight"]) if entry["state"] == "ready" else entry["state"]


def pools_mismatch(rows, desired):
    """Why the running servers differ from ``desired`` (empty list: they match)."""
    running = {row["srv_name"]: row for row in rows}
    problems = []
    for name, entry in desired.items():
        row = running.get(name)
        if row is None:
            problems.append(f"server {name} ({entry['address']}) is unknown to the running HAProxy")
            continue
        address = entry["address"]
        if address.startswith("unix:"):
            continue
        host, _sep, port = address.rpartition(":")
        if row.get("srv_port") != port:
            problems.append(f"server {name} runs on port {row.get('srv_port')}, pools say {address}")
            continue
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            continue  # a host name: HAProxy shows the resolved address
        if row.get("srv_addr") != str(literal):
            problems.append(f"server {name} runs on {row.get('srv_addr')}:{row.get('srv_port')}, pools say {address}")
    for name in running:
        if name not in desired:
            problems.append(f"the running HAProxy has server {name} that pools do not list")
    return problems


RELOAD_SETTINGS = ("balance", "health_check_path", "server_options", "state_file")


def settings_changed(old_metadata, spec):
    """Backend settings that only a reload brings into the running HAProxy (the traffic state is not one)."""
    if not old_metadata:
        return []
    return [f"{key} changed ({old_metadata.get(key)!r} -> {spec[key]!r})"
            for key in RELOAD_SETTINGS if old_metadata.get(key) != spec[key]]


def drift_between(runtime, persisted):
    """Differences between the running state and the persisted (file) state, one sentence each."""
    drift = []
    for name, entry in persisted.items():
        current = runtime.get(name)
        if current is None:
            drift.append(f"{name}: in the file, unknown to the running HAProxy")
        elif not _same(entry, current):
            drift.append(f"{name}: running {describe_state(current)}, file says {describe_state(entry)}")
    for name in runtime:
        if name not in persisted:
            drift.append(f"{name}: running, not in the file")
    return drift


def plan_commands(backend, runtime, desired):
    """Runtime API commands that bring ``runtime`` to ``desired``, in the safe order.

    Servers that must take traffic come first (weight before state, so a server is
    never ready with a stale weight); only then do servers leave the rotation. The
    reverse order is what gives clients 503s.
    """
    raise_cmds, lower_cmds, leave_cmds = [], [], []
    for name, entry in desired.items():
        current = runtime[name]
        target = f"{backend}/{name}"
        if entry["state"] == "ready":
            commands = []
            if current["weight"] != entry["weight"]:
                commands.append(f"set weight {target} {entry['weight']}")
            if current["admin_state"] & (MAINT_MASK | DRAIN_MASK):
                commands.append(f"set server {target} state ready")
            if current["state"] == "ready" and entry["weight"] < current["weight"]:
                lower_cmds.extend(commands)
            else:
                raise_cmds.extend(commands)
        elif entry["state"] == "drain":
            # Weight 0 from the file is drain already; a maint server goes to drain too.
            if current["state"] != "drain":
                leave_cmds.append(f"set server {target} state drain")
        elif current["state"] != "maint":
            leave_cmds.append(f"set server {target} state maint")
    return raise_cmds + lower_cmds + leave_cmds


def colours_without_healthy_server(runtime, desired):
    """Colours that must take traffic but whose servers all report health 'down' (maint servers are not checked)."""
    verdict = {}
    for name, entry in desired.items():
        if entry["state"] != "ready":
            continue
        current = runtime[name]
        # A server in maint is not checked: its health is unknown, which does not block.
        healthy = current["state"] == "maint" or current.get("health") != "down"
        verdict[entry["colour"]] = verdict.get(entry["colour"], False) or healthy
    return sorted(colour for colour, ok in verdict.items() if not ok)


def leaving_servers(runtime, desired):
    """Servers that took traffic before and must not now (the ones to wait for)."""
    return [name for name, entry in desired.items()
            if entry["state"] != "ready" and runtime.get(name, {}).get("state") == "ready"]


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


# --- haproxy program --------------------------------------------------------------------------


class HaproxyCommandError(Exception):
    def __init__(self, message, lines=None):
        super().__init__(message)
        self.lines = lines or []


def error_lines(output):
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "[ALERT]" in line or "[ERROR]" in line or "error" in line.lower()]
    return errors or lines


class Haproxy:
    """The haproxy program: ``haproxy -c`` over the configuration the service loads, and its reload command."""

    def __init__(self, module, binary, config_paths, reload_command=None):
        self.module = module
        self.binary = binary
        self.config_paths = [os.path.abspath(path) for path in config_paths]
        self.reload_command = list(reload_command) if reload_command else ["systemctl", "reload", "haproxy"]

    def loads(self, path):
        """True when one of the -f arguments is ``path`` or its directory."""
        path = os.path.abspath(path)
        return path in self.config_paths or os.path.dirname(path) in self.config_paths

    def check_args(self, path=None):
        args = [self.binary, "-c"]
        for config in self.config_paths:
            args.extend(("-f", config))
        if path is not None and not self.loads(path):
            args.extend(("-f", path))
        return args

    def _run(self, args):
        # handle_exceptions=False: a missing program must raise here (and trigger the caller's restore)
        # instead of run_command calling fail_json itself.
        try:
            return self.module.run_command(args, check_rc=False, handle_exceptions=False)
        except OSError as exc:
            raise HaproxyCommandError(f"cannot run {args[0]}: {exc.strerror or exc}") from None

    def check(self, path=None):
        rc, out, err = self._run(self.check_args(path))
        text = err + "\n" + out
        # rc 2 with "has no error but will not start (no listener)": valid, nothing binds yet.
        if rc == 0 or (rc == 2 and "has no error" in text):
            return
        raise HaproxyCommandError("haproxy -c failed", error_lines(text))

    def reload(self):
        rc, out, err = self._run(self.reload_command)
        if rc != 0:
            raise HaproxyCommandError(
                f"the reload command {' '.join(self.reload_command)} failed (rc={rc})", error_lines(err + "\n" + out)
            )


def check_programs(module, params):
    """The haproxy binary to run; HaproxyError naming the option when a program cannot run.

    Checked before anything is written (check mode runs no program, so it only resolves). The
    default reload command (systemctl) is not checked: it is needed only when the pools change.
    """
    reload_command = params["reload_command"] if params["apply"] else None
    return _check_programs(module, params["haproxy_binary"], "haproxy_binary", reload_command, HaproxyError)


# --- the switch -------------------------------------------------------------------------------


class SwitchError(Exception):
    """The change was refused or undone; the message says what is live now."""

    def __init__(self, message, haproxy_errors=None):
        super().__init__(message)
        self.haproxy_errors = haproxy_errors or []


def _runtime_text(view):
    return "".join(f"{name} {describe_state(entry)}\n" for name, entry in sorted((view or {}).items()))


class _Attempt:
    """What one change has done so far, so a failure can undo exactly that."""

    def __init__(self, name, before, plan, state_before):
        self.name = name
        self.before = before
        self.plan = plan
        self.state_before = state_before
        self.file_written = False
        self.reload_sent = False
        self.commands_sent = []
        self.old_pid = None


class BackendSwitch(ManagedFileSwitch):
    """Apply the desired state of one managed backend to its file and to the running HAProxy."""

    managed = FORMAT
    error = SwitchError
    timing_keys = ("lock_ms", "validate_ms", "reload_ms", "switch_ms", "drain_ms", "total_ms")

    def __init__(self, module, haproxy, api, path, *, apply=True, reload_timeout=10.0, drain_timeout=30.0,
                 backup=True, lock_timeout=60.0, clock=time.monotonic, sleep=time.sleep):
        super().__init__(module, path, reload_timeout=reload_timeout, drain_timeout=drain_timeout, backup=backup,
                         lock_timeout=lock_timeout, clock=clock)
        self.haproxy = haproxy
        self.api = api
        self.apply = apply
        self.sleep = sleep

    # -- reading --

    def _read_runtime(self, name):
        try:
            return self.api.servers_state(name)
        except RuntimeApiError as exc:
            raise SwitchError(str(exc)) from None

    def _plan(self, spec, name, before):
        """Everything the run would do, computed without changing anything."""
        old_metadata = self._old_metadata(before)
        new_text, metadata = self._desired(spec, before)
        plan = {"old_metadata": old_metadata, "new_text": new_text, "metadata": metadata,
                "rows": None, "runtime": None, "drift": [], "reload": False, "reasons": [], "commands": [],
                "desired": server_states(spec) if spec is not None else None}
        if not self.apply:
            return plan
        rows = self._read_runtime(name)
        plan["rows"] = rows
        plan["runtime"] = runtime_view(rows) if rows is not None else None
        persisted_spec = spec_from_metadata(old_metadata) if old_metadata else None
        if persisted_spec is not None and rows is not None:
            plan["drift"] = drift_between(plan["runtime"], server_states(persisted_spec))
        if spec is None:
            plan["reload"] = rows is not None and before.exists
            if plan["reload"]:
                plan["reasons"] = [f"backend {name} is still running"]
            return plan
        if rows is None:
            plan["reload"] = True
            plan["reasons"] = [f"the running HAProxy has no backend {name}"]
        else:
            plan["reasons"] = pools_mismatch(rows, plan["desired"]) + settings_changed(old_metadata, spec)
            plan["reload"] = bool(plan["reasons"])
        if not plan["reload"]:
            plan["commands"] = plan_commands(name, plan["runtime"], plan["desired"])
            unhealthy = colours_without_healthy_server(plan["runtime"], plan["desired"])
            if plan["commands"] and unhealthy:
                raise SwitchError(
                    "refusing to switch: HAProxy's health checks report every server of {} down, so the switch "
                    "would answer 503; traffic stays where it is. Fix the servers (or their health check) and "
                    "run again".format(", ".join(unhealthy))
                )
        return plan

    # -- the run --

    def run(self, spec, name, state_file=None):
        """spec: from build_spec (state=present) or None (state=absent). Returns the result dict."""
        start = self.clock()
        self._require_directory(": create it (the role does)")
        before = self._snapshot()
        plan = self._plan(spec, name, before)
        result = self._result(spec, plan)
        if not result["changed"] or self.module.check_mode:
            return self._finish(start, result)

        with self._locked():
            # Another run may have changed the file or the runtime while we waited.
            before = self._snapshot()
            plan = self._plan(spec, name, before)
            result = self._result(spec, plan)
            if result["changed"]:
                leaving, old_pid = self._change(spec, name, state_file, before, plan, result)

        if result["changed"] and self.apply:
            self._drain(name, plan, leaving, old_pid, result)
        return self._finish(start, result)

    def _result(self, spec, plan):
        runtime_after = None
        if plan["runtime"] is not None and plan["desired"] is not None and not plan["reload"]:
            runtime_after = {name: dict(plan["runtime"][name], state=entry["state"],
                                        weight=entry["weight"] if entry["state"] == "ready"
                                        else plan["runtime"][name]["weight"])
                             for name, entry in plan["desired"].items()}
        changed = plan["new_text"] is not None or plan["reload"] or bool(plan["commands"])
        result = {"changed": changed, "path": self.path, "reloaded": False, "applied_at": None, "drained": False,
                  "backup_file": None,
                  "drift": plan["drift"], "commands": plan["commands"], "reload_reasons": plan["reasons"],
                  "runtime": runtime_after if runtime_after is not None else plan["runtime"]}
        result.update(traffic_summary(spec, plan["metadata"], plan["old_metadata"]))
        if changed:
            diffs = []
            if plan["new_text"] is not None:
                diffs.append(self._file_diff(FileSnapshot.take(self.path).text, plan["new_text"]))
            if plan["commands"]:
                diffs.append({"before": _runtime_text(plan["runtime"]), "after": _runtime_text(runtime_after),
                              "before_header": "runtime (admin socket)", "after_header": "runtime (admin socket)"})
            result["diff"] = diffs
        return result

    def _change(self, spec, name, state_file, before, plan, result):  # noqa: PLR0917 - one internal caller
        """File first (validated, no reload), then the runtime; restore everything on failure."""
        attempt = _Attempt(name, before, plan, FileSnapshot.take(state_file) if state_file else None)
        try:
            self._write_and_check(spec, attempt)
            if plan["reload"]:
                self._reload(spec, state_file, attempt, result)
            leaving = [] if plan["reload"] else leaving_servers(plan["runtime"] or {}, plan["desired"] or {})
            self._send(attempt, result)
            self._persist_runtime(spec, name, state_file, result)
        except HaproxyCommandError as exc:
            self._undo(attempt)
            raise SwitchError(
                f"{exc}; {self.path} was restored and HAProxy keeps serving the colour that was live: "
                + " | ".join(exc.lines),
                haproxy_errors=exc.lines,
            ) from None
        except (SwitchError, RuntimeApiError) as exc:
            self._undo(attempt)
            raise SwitchError(f"{exc} ({self.path} was restored; traffic stays on the colour that was live)") from None
        except Exception:
            self._undo(attempt)
            raise
        if attempt.file_written:
            self._keep_backup(before, result)
        return leaving, attempt.old_pid

    def _write_and_check(self, spec, attempt):
        new_text = attempt.plan["new_text"]
        if new_text is None:
            return
        try:
            self._write_file(spec, new_text)
        except OSError as exc:
            # The rename (or unlink) did not happen: the file is untouched (file_written stays False).
            raise SwitchError(write_error(self.path, exc)) from None
        attempt.file_written = True
        with self._timed("validate_ms"):
            self.haproxy.check(self.path if spec is not None else None)

    def _reload(self, spec, state_file, attempt, result):
        attempt.old_pid = self._worker_pid()
        if state_file:
            # The new process must start from the file's state, not from an older runtime dump.
            write_atomic(self.module, state_file, b"1\n")
        reload_start = self.clock()
        attempt.reload_sent = True
        self.haproxy.reload()
        self._confirm_reload(attempt.name, spec, attempt.old_pid)
        self.timings["reload_ms"] = elapsed_ms(reload_start, self.clock)
        result["reloaded"] = True
        result["applied_at"] = now_iso_ms()
        if spec is not None:
            # Converge anything a loaded state file or another run changed meanwhile.
            runtime = runtime_view(self._read_runtime(attempt.name) or [])
            attempt.plan["commands"] = plan_commands(attempt.name, runtime, attempt.plan["desired"])

    def _send(self, attempt, result):
        if not attempt.plan["commands"]:
            return
        switch_start = self.clock()
        for command in attempt.plan["commands"]:
            self.api.command(command)
            attempt.commands_sent.append(command)
        self.timings["switch_ms"] = elapsed_ms(switch_start, self.clock)
        result["commands"] = list(attempt.commands_sent)
        result["applied_at"] = now_iso_ms()

    def _persist_runtime(self, spec, name, state_file, result):
        if self.apply:
            rows_after = self._read_runtime(name)
            result["runtime"] = runtime_view(rows_after) if rows_after is not None else None
            if state_file and spec is not None:
                answer = self.api.execute(f"show servers state {name}")
                write_atomic(self.module, state_file, state_file_text(answer).encode())
        if state_file and spec is None:
            restore(self.module, FileSnapshot(state_file))

    def _worker_pid(self):
        try:
            pid = self.api.info().get("Pid")
        except RuntimeApiError:
            return None
        return int(pid) if pid and pid.isdigit() else None

    def _confirm_reload(self, name, spec, old_pid):
        """Wait until a new worker answers on the socket with the new servers."""
        deadline = self.clock() + self.reload_timeout
        problem = "no new HAProxy worker answered on the admin socket"
        while True:
            try:
                pid = self._worker_pid()
                if pid is not None and pid != old_pid:
                    rows = self.api.servers_state(name)
                    if spec is None:
                        if rows is None:
                            return
                        problem = f"the new worker still has backend {name}"
                    elif rows is None:
                        problem = (f"the new worker has no backend {name}: is {self.path} loaded by the HAProxy "
                                   "service (a -f argument for the file or its directory)?")
                    else:
                        mismatch = pools_mismatch(rows, server_states(spec))
                        if not mismatch:
                            return
                        problem = "; ".join(mismatch)
            except RuntimeApiError as exc:
                problem = str(exc)
            if self.clock() >= deadline:
                raise SwitchError(f"HAProxy did not apply the new configuration within {self.reload_timeout} s "
                                  f"after the reload: {problem}")
            self.sleep(0.05)

    def _undo(self, attempt):
        # Traffic first: a file that cannot be put back must not stop the runtime from going back.
        file_error = None
        if attempt.file_written:
            try:
                restore(self.module, attempt.before)
            except OSError as exc:
                file_error = exc
        if attempt.state_before is not None:
            try:
                restore(self.module, attempt.state_before)
            except OSError as exc:
                self.warnings.append(f"could not restore the state file {attempt.state_before.path}: {exc}")
        if attempt.reload_sent:
            self._reload_after_restore(self.haproxy.reload, HaproxyCommandError)
        previous = attempt.plan["runtime"]
        if attempt.commands_sent and previous is not None:
            # Put every server back as it was, in the safe order again (the live colour first).
            try:
                runtime = runtime_view(self.api.servers_state(attempt.name) or [])
                known = {server: previous[server] for server in runtime if server in previous}
                for command in plan_commands(attempt.name, {server: runtime[server] for server in known}, known):
                    self.api.command(command)
            except RuntimeApiError as exc:
                self.warnings.append(f"could not put the runtime state back: {exc}")
        if file_error is not None:
            raise SwitchError(
                f"restoring {self.path} failed: {file_error.strerror or file_error} (errno {file_error.errno}); "
                "it may hold the new candidate: check it and run the switch again. The running HAProxy's servers "
                "were put back as they were (see the warnings if not)"
            )

    def _drain(self, name, plan, leaving, old_pid, result):
        """Wait until the servers that left the rotation (or the old worker after a reload) have no sessions."""
        drain_start = self.clock()
        deadline = drain_start + self.drain_timeout
        if result["reloaded"]:
            while old_pid is not None and process_alive(old_pid) and self.clock() < deadline:
                self.sleep(0.05)
            alive = old_pid is not None and process_alive(old_pid)
            result["drained"] = not alive
            if alive and self.drain_timeout:
                self.warnings.append(
                    f"the previous HAProxy worker (pid {old_pid}) was still running after drain_timeout="
                    f"{self.drain_timeout} s; it finishes its open connections and exits on its own"
                )
        else:
            sessions = {}
            while True:
                try:
                    sessions = {server: count for server, count in
                                current_sessions(self.api.stat(), name, leaving).items() if count}
                except RuntimeApiError as exc:
                    self.warnings.append(f"could not read sessions: {exc}")
                    break
                if not sessions or self.clock() >= deadline:
                    break
                self.sleep(0.05)
            result["drained"] = not sessions
            result["sessions"] = sessions
            if sessions and self.drain_timeout:
                self.warnings.append(
                    "servers still had current sessions after drain_timeout={} s: {}".format(
                        self.drain_timeout, ", ".join(f"{k}={v}" for k, v in sorted(sessions.items())))
                )
        if self.drain_timeout:
            self.timings["drain_ms"] = elapsed_ms(drain_start, self.clock)


def describe(text, path):
    """The persisted state of one managed file (None when it is not managed)."""
    metadata, body = FORMAT.split(text)
    if metadata is None:
        return None
    spec = spec_from_metadata(metadata)
    consistent = spec is not None and render_body(spec) == body
    return {
        "name": metadata.get("name"),
        "path": path,
        "active": metadata.get("active"),
        "weights": metadata.get("weights"),
        "pools": metadata.get("pools"),
        "old_state": metadata.get("old_state"),
        "balance": metadata.get("balance"),
        "health_check_path": metadata.get("health_check_path"),
        "server_options": metadata.get("server_options"),
        "state_file": metadata.get("state_file"),
        "previous_active": metadata.get("previous_active"),
        "previous_weights": metadata.get("previous_weights"),
        "switched_at": metadata.get("switched_at"),
        "updated_at": metadata.get("updated_at"),
        "module_version": metadata.get("module_version"),
        "consistent": consistent,
        "servers": server_states(spec) if spec is not None else None,
    }
