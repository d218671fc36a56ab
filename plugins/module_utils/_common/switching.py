# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Private helpers shared by the load-balancer switching modules (nginx_upstream, haproxy_backend).

- ``now_iso`` / ``now_iso_ms``: UTC timestamps for metadata (seconds) and for results that
  are compared across hosts (milliseconds).
- ``elapsed_ms``: the step timings every module returns.
- ``check_programs``: refuse a missing binary or reload command before anything is written.
- ``lcm``: spreading a colour's weight over pools of different sizes.
- ``ManagedFormat``: the managed file both modules write (header, one JSON metadata line,
  body) and the metadata that records which traffic is live and since when.
- ``traffic_summary``: the active/weights/previous_*/switched_at part of a result;
  ``HISTORY_KEYS``: the metadata keys an ``_info`` module reports as they are.
- ``write_error``: the message for a file the filesystem refused to write.
- ``ManagedFileSwitch``: what both switch classes do around their program: options, the
  snapshot of the managed file, its lock, the write, the backup and the timings.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import time
from math import gcd

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.files import (
    FileSnapshot,
    LockTimeoutError,
    ProgramNotFoundError,
    exclusive_lock,
    keep_backup,
    remove_stale_temp_files,
    resolve_program,
    write_atomic,
)

# Metadata keys that record a managed file's history; every _info module reports them as they are.
HISTORY_KEYS = ("previous_active", "previous_weights", "switched_at", "updated_at", "module_version")


def now_iso():
    """UTC time to the second, as written into the managed files' metadata."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def now_iso_ms():
    """UTC time to the millisecond: comparable across hosts whose clocks are synchronised."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def elapsed_ms(start, clock=time.monotonic):
    """Whole milliseconds since ``start`` (a value of ``clock``)."""
    return round((clock() - start) * 1000)


def check_programs(module, binary, binary_option, reload_command, error_class):
    """Resolve the binary (and the reload command's program, when given) before anything changes.

    Returns the binary's path. A program that cannot run raises ``error_class`` naming the
    option; in check mode nothing runs, so a missing program is not an error there.
    """
    try:
        binary = resolve_program(module, binary, binary_option)
        if reload_command:
            resolve_program(module, reload_command[0], "reload_command")
    except ProgramNotFoundError as exc:
        if not module.check_mode:
            raise error_class(str(exc)) from None
    return binary


def lcm(numbers):
    """Least common multiple of pool sizes (1 for none)."""
    result = 1
    for number in numbers:
        result = result * number // gcd(result, number)
    return result


class ManagedFormat:
    """A managed file: a header line, one metadata line with JSON, then the body.

    The metadata is the record of which colour is live, when it was switched and from what.
    ``owner`` is the module's full name, ``settings`` the spec keys stored in the metadata,
    ``render_body(spec)`` the module's configuration text for a spec.
    """

    def __init__(self, owner, settings, version, render_body):
        self.owner = owner
        self.prefix = f"# {owner}: "
        self.header = f"# Managed by {owner}. Manual edits are overwritten on the next run.\n"
        self.settings = tuple(settings)
        self.version = version
        self.render_body = render_body

    def render(self, spec, metadata):
        line = self.prefix + json.dumps(metadata, sort_keys=True, separators=(",", ":")) + "\n"
        return self.header + line + self.render_body(spec)

    def next_metadata(self, spec, old_metadata, now):
        """Metadata for the new file; switched_at/previous_* move only when the traffic selection changes."""
        metadata = {key: spec[key] for key in self.settings}
        metadata["module_version"] = self.version
        metadata["updated_at"] = now
        old = old_metadata or {}
        if old and {"active": old.get("active"), "weights": old.get("weights")} == traffic_of(spec):
            metadata["previous_active"] = old.get("previous_active")
            metadata["previous_weights"] = old.get("previous_weights")
            metadata["switched_at"] = old.get("switched_at")
        else:
            metadata["previous_active"] = old.get("active")
            metadata["previous_weights"] = old.get("weights")
            metadata["switched_at"] = now
        return metadata

    def split(self, text):
        """(metadata dict or None, body after the metadata line) of a managed file."""
        lines = text.splitlines(True)
        for index, line in enumerate(lines):
            if line.startswith(self.prefix):
                try:
                    metadata = json.loads(line[len(self.prefix):])
                except ValueError:
                    return None, text
                if not isinstance(metadata, dict):
                    return None, text
                return metadata, "".join(lines[index + 1:])
            if not line.startswith("#"):
                break
        return None, text

    def is_managed(self, text):
        return self.split(text)[0] is not None

    def same_state(self, spec, existing_text):
        """True when the file already holds exactly what ``spec`` asks for (no write, no reload)."""
        if existing_text is None:
            return False
        metadata, body = self.split(existing_text)
        if metadata is None:
            return False
        return all(metadata.get(key) == spec[key] for key in self.settings) and body == self.render_body(spec)

    def desired(self, spec, before, now):
        """(new text or None when nothing changes, new metadata) for ``spec`` (None: remove the file)."""
        if spec is None:
            return (None if not before.exists else ""), None
        old_metadata = self.split(before.text)[0] if before.exists else None
        if self.same_state(spec, before.text):
            return None, old_metadata
        metadata = self.next_metadata(spec, old_metadata, now)
        return self.render(spec, metadata), metadata


def traffic_of(spec):
    """What decides the traffic: the active colour or the weights."""
    return {"active": spec["active"], "weights": spec["weights"]}


def traffic_summary(spec, metadata, old_metadata):
    """The traffic part of a result; after a removal (spec None) the removed file's traffic is the previous one."""
    if spec is None:
        old = old_metadata or {}
        return {"active": None, "weights": None, "previous_active": old.get("active"),
                "previous_weights": old.get("weights"), "switched_at": None}
    metadata = metadata or {}
    return {
        "active": metadata.get("active"),
        "weights": metadata.get("weights"),
        "previous_active": metadata.get("previous_active"),
        "previous_weights": metadata.get("previous_weights"),
        "switched_at": metadata.get("switched_at"),
    }


def write_error(path, exc):
    """What went wrong writing ``path`` and how to fix it (the caller says what became of the managed file)."""
    return (
        f"cannot write {path}: {exc.strerror or exc} (errno {exc.errno}): free space on its filesystem or make "
        f"{os.path.dirname(path)} writable, or set path to another file"
    )


class ManagedFileSwitch:
    """The part of a switch that is about its managed file, shared by UpstreamSwitch and BackendSwitch.

    Subclasses set ``managed`` (their ManagedFormat), ``error`` (their SwitchError) and
    ``timing_keys`` (every step they time, in the order the result lists them).
    """

    managed = None
    error = Exception
    timing_keys = ("lock_ms", "total_ms")

    def __init__(self, module, path, *, reload_timeout, drain_timeout, backup, lock_timeout, clock=time.monotonic):
        self.module = module
        self.path = os.path.abspath(path)
        self.reload_timeout = reload_timeout
        self.drain_timeout = drain_timeout
        self.backup = backup
        self.lock_timeout = lock_timeout
        self.backup_path = self.path + ".previous"
        self.clock = clock
        self.timings = dict.fromkeys(self.timing_keys)
        self.warnings = []

    def _require_directory(self, hint=""):
        if not os.path.isdir(os.path.dirname(self.path)):
            raise self.error(f"the directory of path {self.path} does not exist{hint}")

    def _snapshot(self):
        snapshot = FileSnapshot.take(self.path)
        if snapshot.exists and not self.managed.is_managed(snapshot.text):
            raise self.error(
                f"{self.path} exists and was not written by {self.managed.owner} (no metadata line); "
                "refusing to overwrite it: move it away or choose another path"
            )
        return snapshot

    def _old_metadata(self, before):
        return self.managed.split(before.text)[0] if before.exists else None

    def _desired(self, spec, before):
        """(new text or None when nothing changes, new metadata)."""
        return self.managed.desired(spec, before, now_iso())

    def _file_diff(self, before_text, new_text):
        return {"before": before_text or "", "after": new_text, "before_header": self.path, "after_header": self.path}

    @contextlib.contextmanager
    def _timed(self, key):
        start = self.clock()
        try:
            yield
        finally:
            self.timings[key] = elapsed_ms(start, self.clock)

    @contextlib.contextmanager
    def _locked(self):
        """Hold the managed file's lock (its wait is lock_ms); a lock that cannot be had is a refusal."""
        lock_start = self.clock()
        try:
            lock = exclusive_lock(self.path, timeout=self.lock_timeout)
            lock.__enter__()
        except LockTimeoutError as exc:
            raise self.error(f"could not lock {self.path}: {exc}") from None
        except OSError as exc:
            raise self.error(self._write_error(exc.filename or self.path, exc)) from None
        try:
            self.timings["lock_ms"] = elapsed_ms(lock_start, self.clock)
            # A run killed while writing leaves its temp file (nginx's *.conf include ignores it).
            remove_stale_temp_files(self.path)
            yield
        finally:
            lock.__exit__(None, None, None)

    def _write_error(self, path, exc):
        """write_error for a failure that left the managed file as it was."""
        return f"{write_error(path, exc)}; {self.path} was not changed"

    def _write_file(self, spec, new_text):
        """Replace the managed file, or remove it (spec None). OSError: the rename or unlink did not happen."""
        if spec is None:
            os.unlink(self.path)
        else:
            write_atomic(self.module, self.path, new_text.encode("utf-8"))

    def _keep_backup(self, before, result):
        """Keep the file that was replaced as ``<path>.previous`` (when backup is on and there was one)."""
        if not (self.backup and before.exists):
            return
        try:
            result["backup_file"] = keep_backup(self.module, before, self.backup_path)
        except OSError as exc:
            # The switch itself is done; a missing backup must not turn it into a failure.
            self.warnings.append(f"could not keep the previous file as {self.backup_path}: {exc.strerror}")

    def _reload_after_restore(self, reload, error_class):
        """Reload once more so the program runs the restored file; a failure there is a warning."""
        try:
            reload()
        except error_class as exc:
            self.warnings.append("reload after restoring {} failed: {}".format(self.path, " | ".join(exc.lines)))

    def _finish(self, start, result):
        self.timings["total_ms"] = elapsed_ms(start, self.clock)
        result["timings"] = self.timings
        return result
