# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The haproxy program: ``haproxy -c`` over what the service loads, its reload command, and
the check that both can run before anything is written."""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import ExternalError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.switching import (
    check_programs as _check_programs,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.spec import HaproxyError


class HaproxyCommandError(ExternalError):
    """The haproxy program (``-c``) or the reload command failed; ``lines`` are its own error lines."""

    def __init__(self, message, lines=None):
        super().__init__(message, haproxy_errors=lines or [])
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

    def check_candidate(self, path, text):
        """``haproxy -c`` with ``text`` in place of the managed file ``path``; the file itself is not touched.

        The check runs on a temporary copy: the -f argument that is the file (or its directory, whose
        other ``*.cfg`` files are copied along, as HAProxy loads them) is replaced by the copy, so the
        running configuration never sees a candidate that was only staged.
        """
        path = os.path.abspath(path)
        directory, name = os.path.split(path)
        workdir = tempfile.mkdtemp(prefix=".bluegreen-stage-")
        try:
            copy_dir = os.path.join(workdir, "conf.d")
            os.mkdir(copy_dir)
            candidate = os.path.join(copy_dir, name)
            args = [self.binary, "-c"]
            for config in self.config_paths:
                if config == path:
                    args.extend(("-f", candidate))
                elif config == directory and os.path.isdir(config):
                    self._copy_loaded_files(config, name, copy_dir)
                    args.extend(("-f", copy_dir))
                else:
                    args.extend(("-f", config))
            if not self.loads(path):
                args.extend(("-f", candidate))
            with open(candidate, "w", encoding="utf-8") as handle:
                handle.write(text)
            rc, out, err = self._run(args)
            # HAProxy's messages name the copy; the user knows the real directory.
            output = (err + "\n" + out).replace(copy_dir, directory)
            if rc == 0 or (rc == 2 and "has no error" in output):
                return
            raise HaproxyCommandError("haproxy -c failed on the staged candidate", error_lines(output))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    @staticmethod
    def _copy_loaded_files(directory, managed_name, copy):
        """Copy what HAProxy loads from ``directory`` (non-hidden ``*.cfg`` files) except the managed file."""
        for entry in sorted(os.listdir(directory)):
            source = os.path.join(directory, entry)
            loaded = entry.endswith(".cfg") and not entry.startswith(".") and os.path.isfile(source)
            if loaded and entry != managed_name:
                shutil.copyfile(source, os.path.join(copy, entry))

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
