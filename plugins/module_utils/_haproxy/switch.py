# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The switch of one managed backend, with its undo.

A colour switch with unchanged pools goes through the runtime API (admin socket), never a
reload, and then rewrites the file without reloading; a reload happens only when the pools
or the backend settings changed. A per-backend server-state file is kept in step after
every change. Any failure puts back the file, the state file and the servers' runtime
states, so traffic stays on the colour that was live.

Plain Python (the AnsibleModule is only used for ``run_command`` and ``atomic_move``), so
unit tests cover it with stand-ins.
"""

from __future__ import annotations

import time

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import SwitchError as _SwitchError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.files import (
    FileSnapshot,
    restore,
    write_atomic,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.process import process_alive
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.switching import (
    ManagedFileSwitch,
    elapsed_ms,
    now_iso_ms,
    traffic_summary,
    write_error,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.plan import (
    colours_without_healthy_server,
    drift_between,
    leaving_servers,
    plan_commands,
    pools_mismatch,
    runtime_text,
    settings_changed,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.process import HaproxyCommandError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.render import (
    FORMAT,
    server_states,
    spec_from_metadata,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.runtime import (
    RuntimeApiError,
    current_sessions,
    runtime_view,
    state_file_text,
)


class SwitchError(_SwitchError):
    """The change was refused or undone; the message says what is live now."""

    def __init__(self, message, haproxy_errors=None):
        super().__init__(message, haproxy_errors=haproxy_errors or [])
        self.haproxy_errors = haproxy_errors or []


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
                diffs.append({"before": runtime_text(plan["runtime"]), "after": runtime_text(runtime_after),
                              "before_header": "runtime (admin socket)", "after_header": "runtime (admin socket)"})
            result["diff"] = diffs
        return result

    def _change(self, spec, name, state_file, before, plan, result, wait=None):  # noqa: PLR0917 - internal
        """File first (validated, no reload), then the runtime; restore everything on failure.

        ``wait`` (a two-phase commit) is called right before the first step that reaches the running
        HAProxy. A runtime-only commit then sends its commands first and writes the file after them
        (the candidate was validated before waiting), so traffic moves as close to the agreed instant
        as the socket allows; the undo is the same either way.
        """
        attempt = _Attempt(name, before, plan, FileSnapshot.take(state_file) if state_file else None)
        try:
            leaving = [] if plan["reload"] else leaving_servers(plan["runtime"] or {}, plan["desired"] or {})
            if wait is not None and not plan["reload"]:
                wait()
                self._send(attempt, result)
                self._write_and_check(spec, attempt)
            else:
                if wait is not None:
                    wait()
                self._write_and_check(spec, attempt)
                if plan["reload"]:
                    self._reload(spec, state_file, attempt, result)
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
