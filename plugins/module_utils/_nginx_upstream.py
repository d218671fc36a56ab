# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Validate, render and parse the managed nginx upstream file of one application.

Plain Python (no AnsibleModule) so unit tests cover it without nginx. The managed file
carries one metadata comment line with JSON; it is the record of which colour is live,
when it was switched and from what, read back by ``nginx_upstream`` (previous state) and
``nginx_upstream_info``.
"""

from __future__ import annotations

import os
import re

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.files import restore
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.pools import (  # noqa: F401 - re-exported
    HOSTNAME_RE,
    NAME_RE,
    UNSAFE_CHARS_RE,
    WEIGHT_MAX,
    is_int,
    validate_name,
    validate_pools,
    validate_server,
    validate_traffic,
    validate_weights,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.switching import (
    ManagedFileSwitch,
    ManagedFormat,
    elapsed_ms,
    lcm,
    now_iso_ms,
    traffic_summary,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.switching import (
    check_programs as _check_programs,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx_process import (
    NginxError,
    included_files,
    read_children,
    wait_for_drain,
    wait_for_new_workers,
)

MODULE_VERSION = "0.1.0"
DEFAULT_CONF_DIR = "/etc/nginx/conf.d"
FILE_PREFIX = "bluegreen_"

DURATION_RE = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|M|y)?)+\Z")
HASH_KEY_RE = re.compile(r"^[A-Za-z0-9_$.:/-]{1,128}\Z")

BALANCE_METHODS = ("round_robin", "least_conn", "ip_hash", "hash", "random")
# nginx refuses `backup` servers with these methods ("backup" parameter cannot be used).
BALANCE_WITHOUT_BACKUP = ("ip_hash", "hash", "random")
SERVER_OPTION_KEYS = ("max_fails", "fail_timeout", "max_conns")
SERVER_OPTION_HINTS = {
    "weight": "weights are managed by the module: use the weights option",
    "backup": "use idle_backup to list the idle pool as backup servers",
    "down": "remove the server from its pool instead",
}


# Invalid nginx_upstream input; one class with the shared validators' errors.
UpstreamError = InputError


def default_path(name, conf_dir=DEFAULT_CONF_DIR):
    return os.path.join(conf_dir, f"{FILE_PREFIX}{name}.conf")


def preview_name(name):
    return f"{name}_preview"


# --- validation -----------------------------------------------------------------------


def validate_server_options(options):
    clean = {}
    for key, given in (options or {}).items():
        if key in SERVER_OPTION_HINTS:
            raise UpstreamError(f"server_options.{key} is not allowed: {SERVER_OPTION_HINTS[key]}")
        if key not in SERVER_OPTION_KEYS:
            raise UpstreamError(
                "server_options.{} is not a known server parameter; use {}".format(key, ", ".join(SERVER_OPTION_KEYS))
            )
        if given is None:
            continue
        value = given
        if key == "fail_timeout":
            text = str(value) if is_int(value) else value
            if not isinstance(text, str) or not DURATION_RE.match(text):
                raise UpstreamError(f"server_options.fail_timeout={value!r}: use a duration such as 10, 10s or 500ms")
            clean[key] = text
        else:
            value = int(given) if isinstance(given, str) and given.isdigit() else given
            if not is_int(value) or value < 0:
                raise UpstreamError(f"server_options.{key}={value!r}: use an integer >= 0")
            clean[key] = value
    return clean


def _validate_balance(balance, hash_key, idle_backup):
    if balance not in BALANCE_METHODS:
        raise UpstreamError("balance={!r}: use one of {}".format(balance, ", ".join(BALANCE_METHODS)))
    if balance == "hash":
        if not hash_key or not HASH_KEY_RE.match(hash_key):
            raise UpstreamError(
                "balance=hash needs hash_key, an nginx key such as $remote_addr or $cookie_session "
                "(characters A-Z a-z 0-9 _ $ . : / -)"
            )
    elif hash_key:
        raise UpstreamError("hash_key is only used with balance=hash")
    if idle_backup and balance in BALANCE_WITHOUT_BACKUP:
        raise UpstreamError(
            "idle_backup cannot be used with balance={}: nginx does not allow backup servers with {}".format(
                balance, ", ".join(BALANCE_WITHOUT_BACKUP)
            )
        )


def _validate_preview(preview, preview_colour, pools, active, weights):
    if preview_colour is None:
        return derive_preview_colour(pools, active, weights) if preview else None
    validate_name(preview_colour, "preview_colour")
    if preview_colour not in pools:
        raise UpstreamError(f"preview_colour={preview_colour!r} is not a colour in pools")
    if not preview:
        raise UpstreamError("preview_colour is only used with preview=true")
    if active is not None and preview_colour == active:
        raise UpstreamError(f"preview_colour={preview_colour!r} is the active colour: preview points at an idle colour")
    return preview_colour


def build_spec(params):
    """Check the module parameters and return the normalised desired state (a dict).

    Raises UpstreamError with a message for the user; nothing has been touched then.
    """
    name = validate_name(params.get("name"), "name")
    pools = validate_pools(params.get("pools"))
    active = params.get("active")
    weights = validate_traffic(pools, active, params.get("weights"))
    balance = params.get("balance") or "round_robin"
    idle_backup = bool(params.get("idle_backup"))
    _validate_balance(balance, params.get("hash_key"), idle_backup)
    keepalive = params.get("keepalive") or 0
    if not is_int(keepalive) or keepalive < 0:
        raise UpstreamError(f"keepalive={keepalive!r}: use an integer >= 0 (0 = no upstream keepalive)")
    preview = bool(params.get("preview"))
    return {
        "name": name,
        "pools": pools,
        "active": active,
        "weights": weights,
        "balance": balance,
        "hash_key": params.get("hash_key") if balance == "hash" else None,
        "idle_backup": idle_backup,
        "keepalive": keepalive,
        "server_options": validate_server_options(params.get("server_options")),
        "preview": preview,
        "preview_colour": _validate_preview(preview, params.get("preview_colour"), pools, active, weights),
    }


def derive_preview_colour(pools, active, weights):
    """The idle colour for the preview upstream, when it is unambiguous."""
    if active is not None:
        idle = [colour for colour in pools if colour != active]
        if len(idle) == 1:
            return idle[0]
        raise UpstreamError(
            f"preview=true with {len(idle)} idle colours ({', '.join(sorted(idle))}): set preview_colour"
        )
    lowest = min(weights.values())
    candidates = [colour for colour, weight in weights.items() if weight == lowest]
    if len(candidates) == 1:
        return candidates[0]
    raise UpstreamError("preview=true with weights: no single lowest-weight colour, set preview_colour")


# --- rendering ------------------------------------------------------------------------


def live_servers(spec):
    """(server, weight or None, is_backup) for the live upstream, in a stable order.

    With weights, each colour's weight is its share of the traffic: it is spread over
    that colour's servers (per-server weight = colour weight * L / servers, L = least
    common multiple of the pool sizes) so pools of different sizes keep the split.
    """
    pools = spec["pools"]
    rows = []
    if spec["active"] is not None:
        rows.extend((server, None, False) for server in pools[spec["active"]])
        idle = [colour for colour in pools if colour != spec["active"]]
    else:
        weighted = [colour for colour in pools if spec["weights"][colour] > 0]
        scale = lcm([len(pools[colour]) for colour in weighted])
        for colour in weighted:
            per_server = spec["weights"][colour] * scale // len(pools[colour])
            rows.extend((server, per_server, False) for server in pools[colour])
        idle = [colour for colour in pools if spec["weights"][colour] == 0]
    if spec["idle_backup"]:
        for colour in idle:
            rows.extend((server, None, True) for server in pools[colour])
    return rows


def _server_line(server, weight, backup, options):
    parts = ["server", server]
    if weight is not None and weight != 1:
        parts.append(f"weight={weight}")
    for key in SERVER_OPTION_KEYS:
        if key in options:
            parts.append(f"{key}={options[key]}")
    if backup:
        parts.append("backup")
    return "    {};\n".format(" ".join(parts))


def _upstream_block(name, rows, spec):
    lines = [f"upstream {name} {{\n"]
    balance = spec["balance"]
    # Balancing directives must come before keepalive.
    if balance == "hash":
        lines.append("    hash {};\n".format(spec["hash_key"]))
    elif balance != "round_robin":
        lines.append(f"    {balance};\n")
    lines.extend(_server_line(server, weight, backup, spec["server_options"]) for server, weight, backup in rows)
    if spec["keepalive"]:
        lines.append(f"    keepalive {spec['keepalive']};\n")
    lines.append("}\n")
    return "".join(lines)


def render_body(spec):
    """The nginx configuration (without the metadata line) for ``spec``."""
    blocks = [_upstream_block(spec["name"], live_servers(spec), spec)]
    if spec["preview"]:
        rows = [(server, None, False) for server in spec["pools"][spec["preview_colour"]]]
        blocks.append(_upstream_block(preview_name(spec["name"]), rows, spec))
    return "\n".join(blocks)


SETTINGS_KEYS = ("name", "pools", "active", "weights", "balance", "hash_key", "idle_backup", "keepalive",
                 "server_options", "preview", "preview_colour")


# The file's format (metadata line, previous_*/switched_at bookkeeping) is shared with haproxy_backend.
FORMAT = ManagedFormat("switchyard.bluegreen.nginx_upstream", SETTINGS_KEYS, MODULE_VERSION, render_body)
# The module-level names stay for the tests and tools that read managed files.
METADATA_PREFIX = FORMAT.prefix
render_file = FORMAT.render
next_metadata = FORMAT.next_metadata
same_state = FORMAT.same_state
split_file = FORMAT.split
is_managed = FORMAT.is_managed


# --- parsing --------------------------------------------------------------------------


def describe(text, path):
    """What nginx_upstream_info reports for one managed file (None when it is not managed)."""
    metadata, body = split_file(text)
    if metadata is None:
        return None
    try:
        spec = {key: metadata[key] for key in SETTINGS_KEYS}
        consistent = render_body(spec) == body
    except (KeyError, TypeError, ValueError):
        consistent = False
    return {
        "name": metadata.get("name"),
        "path": path,
        "active": metadata.get("active"),
        "weights": metadata.get("weights"),
        "pools": metadata.get("pools"),
        "balance": metadata.get("balance"),
        "idle_backup": metadata.get("idle_backup"),
        "keepalive": metadata.get("keepalive"),
        "server_options": metadata.get("server_options"),
        "preview": metadata.get("preview_colour") if metadata.get("preview") else None,
        "preview_upstream": (
            preview_name(metadata["name"]) if metadata.get("preview") and metadata.get("name") else None
        ),
        "previous_active": metadata.get("previous_active"),
        "previous_weights": metadata.get("previous_weights"),
        "switched_at": metadata.get("switched_at"),
        "updated_at": metadata.get("updated_at"),
        "module_version": metadata.get("module_version"),
        # False when someone edited the upstream blocks by hand after the last run.
        "consistent": consistent,
    }


def check_programs(module, params):
    """The nginx binary to run; UpstreamError naming the option when a program cannot run.

    Checked before anything is written (check mode runs no program, so it only resolves).
    """
    reload_command = params["reload_command"] if params["reload"] else None
    return _check_programs(module, params["nginx_binary"], "nginx_binary", reload_command, UpstreamError)


# --- the switch -----------------------------------------------------------------------


class SwitchError(Exception):
    """The change was refused or undone; the file on disk is what it was before."""

    def __init__(self, message, nginx_errors=None, **result):
        super().__init__(message)
        self.nginx_errors = nginx_errors or []
        self.result = result


def _include_hint(path, dump):
    files = included_files(dump)
    main = files[0] if files else "nginx.conf"
    return (
        f"{path} is not included by nginx's configuration (main file {main}), so a switch would change nothing: "
        f"add 'include {os.path.dirname(path)}/*.conf;' (or 'include {path};') inside the http {{ }} block "
        f"of {main}, or set path to a file that an existing include loads"
    )


def _summary(spec, metadata, old_metadata):
    summary = traffic_summary(spec, metadata, old_metadata)
    metadata = (metadata if spec is not None else None) or {}
    summary["preview"] = metadata.get("preview_colour") if metadata.get("preview") else None
    return summary


class UpstreamSwitch(ManagedFileSwitch):
    """Apply the desired state of one managed file to one nginx instance, safely."""

    managed = FORMAT
    error = SwitchError
    timing_keys = ("lock_ms", "validate_ms", "reload_ms", "drain_ms", "total_ms")

    def __init__(self, module, nginx, path, *, reload=True, reload_timeout=5.0, drain_timeout=30.0,
                 backup=True, lock_timeout=60.0):
        super().__init__(module, path, reload_timeout=reload_timeout, drain_timeout=drain_timeout, backup=backup,
                         lock_timeout=lock_timeout)
        self.nginx = nginx
        self.reload = reload
        # Exists while a written file may not be loaded by nginx yet: created before the write, removed once
        # a new worker generation confirms the reload. A re-run that finds it reloads even when the file
        # already holds the requested state (the previous run died between write and reload).
        directory, name = os.path.split(self.path)
        self.pending_path = os.path.join(directory, f".{name}.reload-pending")
        self._reload_sent = False

    def run(self, spec):
        """spec: from build_spec (state=present) or None (state=absent). Returns the result dict."""
        start = self.clock()
        self._require_directory()
        before = self._snapshot()
        old_metadata = self._old_metadata(before)
        new_text, metadata = self._desired(spec, before)
        pending = new_text is None and self._reload_pending()
        result = {"changed": new_text is not None or pending, "path": self.path, "reloaded": False,
                  "reloaded_at": None, "drained": False, "backup_file": None}
        if new_text is not None:
            result["diff"] = self._file_diff(before.text, new_text)
        if pending and self.module.check_mode:
            self.warnings.append(self._pending_reason("would be reloaded"))
        if (new_text is None and not pending) or self.module.check_mode:
            result.update(_summary(spec, metadata, old_metadata))
            return self._finish(start, result)

        old_workers, old_metadata, metadata = self._apply_locked(spec, result)
        if result["changed"] and result["reloaded"]:
            self._drain(old_workers, result)
        result.update(_summary(spec, metadata, old_metadata))
        return self._finish(start, result)

    def _apply_locked(self, spec, result):
        """Under the lock: re-read the file, then swap it or finish a pending reload.

        Returns (old workers, old metadata, new metadata).
        """
        with self._locked():
            # Another run may have changed the file while we waited for the lock.
            before = self._snapshot()
            old_metadata = self._old_metadata(before)
            new_text, metadata = self._desired(spec, before)
            old_workers = set()
            if new_text is None:
                result.pop("diff", None)
                result["changed"] = self._reload_pending()
                if result["changed"]:
                    old_workers = self._reload_only(result)
            else:
                result["changed"] = True
                result["diff"] = self._file_diff(before.text, new_text)
                old_workers = self._swap(spec, before, new_text, result)
        return old_workers, old_metadata, metadata

    def _reload_pending(self):
        return self.reload and os.path.exists(self.pending_path)

    def _pending_reason(self, action):
        return (
            f"{self.path} already holds the requested state, but the run that wrote it did not confirm that nginx "
            f"loaded it (marker {self.pending_path}, left by a run that stopped between write and reload): "
            f"nginx {action}"
        )

    def _mark_pending(self):
        try:
            os.close(os.open(self.pending_path, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as exc:
            raise SwitchError(self._write_error(self.pending_path, exc)) from None

    def _clear_pending(self):
        try:
            os.unlink(self.pending_path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self.warnings.append(
                f"could not remove {self.pending_path}: {exc.strerror}; the next run reloads nginx once more"
            )

    def _dump(self):
        """nginx -T of the configuration as it is now on disk (its time is validate_ms)."""
        with self._timed("validate_ms"):
            return self.nginx.dump()

    def _reload_only(self, result):
        """The file already holds the requested state but its reload was never confirmed: reload now."""
        try:
            old_workers = self._reload_nginx(self._dump(), result)
        except NginxError as exc:
            raise SwitchError(
                f"{exc}; {self.path} already holds the requested state but nginx has not loaded it "
                f"(a previous run stopped before its reload was confirmed): " + " | ".join(exc.lines),
                nginx_errors=exc.lines,
            ) from None
        except SwitchError as exc:
            raise SwitchError(
                f"{exc} ({self.path} already holds the requested state; a previous run stopped before its reload "
                "was confirmed)"
            ) from None
        self.warnings.append(self._pending_reason("was reloaded now"))
        self._clear_pending()
        return old_workers

    def _reload_nginx(self, dump, result):
        """Reload and wait for the new worker generation; returns the old workers."""
        master, pid_file = self.nginx.master_pid(dump)
        if master is None:
            raise SwitchError(
                f"nginx is not running (no live nginx master for pid file {pid_file}); the module does not "
                "start it: start nginx, or use reload=false to only write and test the file"
            )
        old_workers = read_children(master)
        with self._timed("reload_ms"):
            self._reload_sent = True
            self.nginx.reload()
            new_workers = wait_for_new_workers(master, old_workers, self.reload_timeout)
        if not new_workers:
            raise SwitchError(
                "nginx did not apply the new configuration: no new worker generation appeared"
                f" within {self.reload_timeout} s after the reload (nginx kept the old configuration;"
                " see its error log)"
            )
        result["reloaded"] = True
        result["reloaded_at"] = now_iso_ms()
        return old_workers

    def _write(self, spec, new_text):
        """Replace or remove the file; SwitchError (nothing changed) when the filesystem refuses."""
        try:
            self._write_file(spec, new_text)
        except OSError as exc:
            # The rename (or unlink) did not happen, so the file is untouched: nothing to restore.
            raise SwitchError(self._write_error(self.path, exc)) from None

    def _swap(self, spec, before, new_text, result):
        """Write, test, check the include, reload and confirm; restore ``before`` on any failure."""
        self._reload_sent = False
        had_pending = os.path.exists(self.pending_path)
        if self.reload:
            self._mark_pending()
        try:
            self._write(spec, new_text)
        except SwitchError:
            self._undo_marker(had_pending)
            raise
        try:
            dump = self._dump()
            if spec is not None:
                included = {os.path.realpath(name) for name in included_files(dump)}
                if os.path.realpath(self.path) not in included:
                    raise SwitchError(_include_hint(self.path, dump))
            old_workers = set()
            if self.reload:
                old_workers = self._reload_nginx(dump, result)
        except NginxError as exc:
            self._undo(before, had_pending)
            raise SwitchError(
                f"{exc}; {self.path} was restored and nginx keeps serving the previous configuration: "
                + " | ".join(exc.lines),
                nginx_errors=exc.lines,
            ) from None
        except (SwitchError, OSError) as exc:
            self._undo(before, had_pending)
            raise SwitchError(f"{exc} ({self.path} was restored, nothing changed)") from None
        except Exception:
            self._undo(before, had_pending)
            raise
        if self.reload:
            self._clear_pending()
        self._keep_backup(before, result)
        return old_workers

    def _undo(self, before, had_pending):
        try:
            restore(self.module, before)
        except OSError as exc:
            raise SwitchError(
                f"restoring {self.path} failed: {exc.strerror or exc} (errno {exc.errno}); it may hold the new "
                f"candidate: check it and run the switch again (the marker {self.pending_path} makes the re-run reload)"
            ) from None
        if self._reload_sent:
            # nginx may still pick the candidate up late: reload once more so it runs the restored file.
            self._reload_after_restore(self.nginx.reload, NginxError)
        # The file is back as it was, so this run leaves nothing behind (the warning above covers a failed reload).
        self._undo_marker(had_pending)

    def _undo_marker(self, had_pending):
        """After an undo nginx runs the file that was there before: the marker goes unless it was there before."""
        if self.reload and not had_pending:
            self._clear_pending()

    def _drain(self, old_workers, result):
        drain_start = self.clock()
        alive = wait_for_drain(old_workers, self.drain_timeout)
        if self.drain_timeout:
            self.timings["drain_ms"] = elapsed_ms(drain_start, self.clock)
        result["drained"] = not alive
        if alive and self.drain_timeout:
            self.warnings.append(
                f"{len(alive)} old nginx worker(s) (pids {', '.join(map(str, sorted(alive)))}) were still running "
                f"after drain_timeout={self.drain_timeout} s; they finish their open requests and exit on their own"
            )
