# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The nginx program: test/dump its configuration, find its master, reload, drain.

Commands are argument lists through ``module.run_command`` (no shell). Worker
generations are read from /proc: the workers are the master's children; a reload is
applied when children appear that were not there before, and the previous generation
has drained when none of the old children is left.
"""

from __future__ import annotations

import os
import re
import signal
import time

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import ExternalError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.process import (
    process_alive,
    read_children,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.switching import (
    check_programs as _check_programs,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.config import (
    Config,
    included_files,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.spec import UpstreamError

LOG_LINE_RE = re.compile(r"\[(emerg|alert|crit|error)\]")

__all__ = ["Nginx", "NginxError", "check_programs", "compiled_option", "error_lines", "included_files",
           "master_from_pid_file", "pid_path_from_dump", "process_alive", "read_children", "wait_for_drain",
           "wait_for_new_workers"]


class NginxError(ExternalError):
    """An nginx step failed; ``lines`` holds nginx's own error lines (also the ``nginx_errors`` detail)."""

    def __init__(self, message, lines=None):
        super().__init__(message, nginx_errors=list(lines or []))
        self.lines = list(lines or [])


def error_lines(output):
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if LOG_LINE_RE.search(line) or "test failed" in line]
    return errors or lines


def _is_nginx(pid, proc="/proc"):
    """Guard against a stale pid file whose pid now belongs to another program.

    nginx retitles its master process "nginx: master process ..."; matching that
    prefix (not "nginx" anywhere) keeps an unrelated process whose arguments merely
    mention nginx from being sent a reload signal.
    """
    try:
        with open(os.path.join(proc, str(pid), "cmdline"), "rb") as handle:
            return handle.read().startswith(b"nginx: master process")
    except OSError:
        return False


def pid_path_from_dump(dump):
    """The last ``pid`` of the main context in ``nginx -T`` output (None: compiled default).

    Read with the tokenizer of config.py: a ``#`` inside a quoted string or a regex location
    does not hide the rest of a line, and a ``pid`` inside a block does not count.
    """
    return Config(dump).pid_path()


def compiled_option(version_output, option):
    match = re.search(rf"--{re.escape(option)}=(\S+)", version_output)
    return match.group(1) if match else None


def check_programs(module, params):
    """The nginx binary to run; UpstreamError naming the option when a program cannot run.

    Checked before anything is written (check mode runs no program, so it only resolves).
    """
    reload_command = params["reload_command"] if params["reload"] else None
    return _check_programs(module, params["nginx_binary"], "nginx_binary", reload_command, UpstreamError)


class Nginx:
    """One nginx instance: ``binary`` plus, optionally, ``-p prefix`` and ``-c conf``."""

    def __init__(self, module, binary, conf=None, reload_command=None, prefix=None):
        self.module = module
        self.binary = binary
        self.conf = conf
        self.prefix = prefix
        self.base = [binary] + (["-p", prefix] if prefix else []) + (["-c", conf] if conf else [])
        # With the default command a reload is SIGHUP to the master (what `nginx -s reload` sends), so a
        # commit at an agreed instant can signal the master itself instead of paying for an exec.
        self.custom_reload = bool(reload_command)
        self.reload_command = list(reload_command) if reload_command else [*self.base, "-s", "reload"]

    def _run(self, args):
        # handle_exceptions=False: a missing program must raise here (and trigger the caller's restore)
        # instead of run_command calling fail_json itself.
        try:
            return self.module.run_command(args, check_rc=False, handle_exceptions=False)
        except OSError as exc:
            raise NginxError(f"cannot run {args[0]}: {exc.strerror or exc}") from None

    def dump(self):
        """``nginx -T``: test the configuration and return its full text; NginxError on failure."""
        rc, out, err = self._run([*self.base, "-T"])
        if rc != 0:
            raise NginxError("nginx -T failed", error_lines(err + "\n" + out))
        return out

    def config(self, dump=None):
        """The parsed configuration of ``dump`` (default: a fresh ``nginx -T``)."""
        return Config(self.dump() if dump is None else dump, self.prefix)

    def test(self):
        rc, out, err = self._run([*self.base, "-t"])
        if rc != 0:
            raise NginxError("nginx -t failed", error_lines(err + "\n" + out))

    def pid_file(self, dump):
        path = pid_path_from_dump(dump)
        if path is None:
            _rc, out, err = self._run([self.binary, "-V"])
            path = compiled_option(err + out, "pid-path") or "logs/nginx.pid"
        if not os.path.isabs(path):
            # nginx resolves a relative path against -p when it was given, else its compiled-in prefix.
            prefix = self.prefix
            if not prefix:
                _rc, out, err = self._run([self.binary, "-V"])
                prefix = compiled_option(err + out, "prefix") or "/usr/local/nginx"
            path = os.path.join(prefix, path)
        return path

    def master_pid(self, dump):
        """(the running master's pid or None when nginx is not running, the pid file)."""
        pid_file = self.pid_file(dump)
        return master_from_pid_file(pid_file), pid_file

    def master_of(self, pid_file):
        """The live master of the pid file a stage resolved (no ``nginx -T`` at commit time)."""
        return master_from_pid_file(pid_file)

    def reload_master(self, master):
        """Reload the master ``master`` as fast as possible: SIGHUP, unless the task set a reload_command.

        ``master`` was read from the pid file this instance's ``nginx -s reload`` would read; a
        custom command (``systemctl reload nginx``) is run, since it may do more than signal.
        """
        if self.custom_reload:
            self.reload()
            return
        try:
            os.kill(master, signal.SIGHUP)
        except OSError as exc:
            raise NginxError(f"cannot signal the nginx master {master} to reload: {exc.strerror or exc} (it exited)"
                             ) from None

    def reload(self):
        rc, out, err = self._run(self.reload_command)
        if rc != 0:
            raise NginxError(
                f"the reload command {' '.join(self.reload_command)} failed (rc={rc})",
                error_lines(err + "\n" + out),
            )


def master_from_pid_file(pid_file):
    """The live nginx master whose pid ``pid_file`` holds, or None (no file, stale pid, another program)."""
    try:
        with open(pid_file) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    return pid if process_alive(pid) and _is_nginx(pid) else None


def wait_for_new_workers(master, old_workers, timeout, interval=0.005):
    """Wait until the master has children that were not in ``old_workers``; returns them (empty: none)."""
    deadline = time.monotonic() + timeout
    while True:
        new = read_children(master) - set(old_workers)
        if new or time.monotonic() >= deadline:
            return new
        time.sleep(interval)


def wait_for_drain(old_workers, timeout, interval=0.01):
    """Wait until every pid in ``old_workers`` has exited; returns the pids still alive."""
    deadline = time.monotonic() + timeout
    while True:
        alive = {pid for pid in old_workers if process_alive(pid)}
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(interval)
