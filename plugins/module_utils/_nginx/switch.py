# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""UpstreamSwitch: apply one managed upstream file to one running nginx, safely.

Only the managed file (and, with ``adopt``, the operator's file that defined the upstream)
lives where nginx includes configuration. Every auxiliary file lives in the state directory,
under the managed file's absolute path (``<state_dir>/etc/nginx/conf.d/bluegreen_shop.conf``
+ ``.previous`` / ``.reload-pending`` / the ``.lock`` next to it), so no include glob of
nginx (``*``, ``*.conf``, ``bluegreen_*``) can ever load a backup or a marker. The temp file
of the atomic write is hidden (``.<name>.<random>.tmp`` next to the managed file): glob(3),
which nginx's ``include`` uses, never matches a leading dot unless the pattern spells it,
and every run checks the include patterns of ``nginx -T`` against all these names.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import tempfile
import time

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common import errors as _errors
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common import staging
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.files import (
    FileSnapshot,
    LockTimeoutError,
    exclusive_lock,
    keep_backup,
    lock_path_for,
    remove_stale_temp_files,
    restore,
    write_atomic,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.switching import (
    ManagedFileSwitch,
    elapsed_ms,
    now_iso,
    now_iso_ms,
    traffic_summary,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.config import (
    Config,
    ConfigSyntaxError,
    parse,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.process import (
    NginxError,
    included_files,
    read_children,
    wait_for_drain,
    wait_for_new_workers,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.spec import (
    DEFAULT_STATE_DIR,
    FORMAT,
    preview_name,
)

# Options that nginx accepts in http {} upstreams only.
HTTP_ONLY = {"keepalive": "keepalive", "ip_hash": "balance=ip_hash"}


class SwitchError(_errors.SwitchError):
    """The change was refused or undone; the files on disk are what they were before."""

    def __init__(self, message, nginx_errors=None, **details):
        super().__init__(message, nginx_errors=list(nginx_errors or []), **details)

    @property
    def nginx_errors(self):
        return self.details["nginx_errors"]


def state_base(state_dir, path):
    """Where the auxiliary files of managed file ``path`` live: its absolute path under ``state_dir``."""
    return os.path.join(os.path.abspath(state_dir), os.path.abspath(path).lstrip(os.sep))


def _include_hint(path, dump, context="http"):
    files = included_files(dump)
    main = files[0] if files else "nginx.conf"
    block = " or ".join(f"the {name} {{ }} block" for name in context.split("|"))
    which = (" (http for HTTP upstreams, stream for TCP/UDP upstreams: the one whose server blocks proxy_pass "
             "to it)") if "|" in context else ""
    return (
        f"{path} is not included by nginx's configuration (main file {main}), so a switch would change nothing: "
        f"add 'include {os.path.dirname(path)}/*.conf;' (or 'include {path};') inside {block} of {main}{which}, "
        f"or set path to a file that an existing include loads"
    )


def _hint_context(config, names):
    """The block an include of a managed file with upstreams ``names`` belongs in: ``http``, ``stream``,
    or ``http|stream`` when both blocks exist and no ``proxy_pass`` tells which one uses them."""
    blocks = [name for name in ("http", "stream") if config.main_blocks(name)]
    if len(blocks) < 2:
        return blocks[0] if blocks else "http"
    used = set()
    for directive in config.find("proxy_pass"):
        target = directive.args[0] if directive.args else ""
        if "stream" in directive.context and target in names:
            used.add("stream")
        elif "http" in directive.context and target.split("://", 1)[-1].split("/", 1)[0] in names:
            used.add("http")
    return used.pop() if len(used) == 1 else "http|stream"


def http_only_options(spec):
    """The options of ``spec`` nginx has only in http {} upstreams (as the task spells them)."""
    used = [HTTP_ONLY["keepalive"]] if spec["keepalive"] else []
    if spec["balance"] == "ip_hash":
        used.append(HTTP_ONLY["ip_hash"])
    return used


def _summary(spec, metadata, old_metadata):
    summary = traffic_summary(spec, metadata, old_metadata)
    metadata = (metadata if spec is not None else None) or {}
    summary["preview"] = metadata.get("preview_colour") if metadata.get("preview") else None
    return summary


def _user(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class Adoption:
    """One operator file that defines upstreams the module takes over: its snapshot and its new text."""

    def __init__(self, snapshot, new_text, blocks):
        self.snapshot = snapshot
        self.new_text = new_text
        self.blocks = blocks  # [(name, line)]

    @property
    def path(self):
        return self.snapshot.path


def remove_blocks(text, path, names, context=()):
    """``text`` without the ``upstream <name> { ... }`` blocks of ``names``; everything else byte for byte.

    Each block is replaced by one comment line saying where it went. Returns (new text, [(name, line)]).
    """
    tree = parse(text, path, context)
    found = []

    def visit(directives):
        for directive in directives:
            if (directive.name == "upstream" and directive.block is not None and directive.args[:1]
                    and directive.args[0] in names):
                found.append(directive)
            elif directive.block is not None:
                visit(directive.block)

    visit(tree)
    new_text = text
    for directive in sorted(found, key=lambda item: item.start, reverse=True):
        note = f"# upstream {directive.args[0]}: adopted by switchyard.bluegreen.nginx_upstream"
        new_text = new_text[:directive.start] + note + new_text[directive.end:]
    return new_text, [(directive.args[0], directive.line) for directive in found]


class UpstreamSwitch(ManagedFileSwitch):
    """Apply the desired state of one managed file to one nginx instance, safely."""

    managed = FORMAT
    error = SwitchError
    timing_keys = ("lock_ms", "validate_ms", "reload_ms", "drain_ms", "total_ms")

    def __init__(self, module, nginx, path, *, reload=True, reload_timeout=5.0, drain_timeout=30.0,
                 backup=True, lock_timeout=60.0, state_dir=DEFAULT_STATE_DIR, adopt=False, name=None):
        super().__init__(module, path, reload_timeout=reload_timeout, drain_timeout=drain_timeout, backup=backup,
                         lock_timeout=lock_timeout)
        self.nginx = nginx
        self.reload = reload
        self.adopt = adopt
        self.name = name
        self.state_dir = os.path.abspath(state_dir)
        self.state_base = state_base(state_dir, self.path)
        self.backup_path = self.state_base + ".previous"
        # Exists while a written file may not be loaded by nginx yet: created before the write, removed once
        # a new worker generation confirms the reload. A re-run that finds it reloads even when the file
        # already holds the requested state (the previous run died between write and reload).
        self.pending_path = self.state_base + ".reload-pending"
        self.lock_file = lock_path_for(self.state_base)
        # The stage record of a two-phase switch (phase=stage until its commit or abort).
        self.stage_path = staging.stage_path(self.state_base)
        # Where versions before state_dir kept them, next to the managed file.
        directory, name_ = os.path.split(self.path)
        self.legacy_backup = self.path + ".previous"
        self.legacy_pending = os.path.join(directory, f".{name_}.reload-pending")
        self._reload_sent = False

    # --- the run ------------------------------------------------------------------------

    def run(self, spec):
        """spec: from build_spec (state=present) or None (state=absent). Returns the result dict."""
        start = self.clock()
        self._require_directory()
        before = self._snapshot()
        old_metadata = self._old_metadata(before)
        new_text, metadata = self._desired(spec, before)
        adoptions = self._adoptions(spec) if self.adopt and spec is not None else []
        pending = new_text is None and self._reload_pending()
        legacy = os.path.exists(self.legacy_backup)
        result = {"changed": new_text is not None or pending or bool(adoptions) or legacy, "path": self.path,
                  "reloaded": False, "reloaded_at": None, "drained": False, "backup_file": None,
                  "adopted": [self._adopted_entry(adoption) for adoption in adoptions]}
        result.update(staging.phase_result("apply"))
        if new_text is not None or adoptions:
            result["diff"] = self._diffs(before.text, new_text, adoptions)
        if self.module.check_mode:
            if pending:
                self.warnings.append(self._pending_reason("would be reloaded"))
            if legacy:
                self.warnings.append(self._legacy_reason("would be moved"))
            if spec is not None and (new_text is not None or adoptions):
                self._predict(spec)
        if (new_text is None and not pending and not adoptions and not legacy) or self.module.check_mode:
            if not self.module.check_mode and os.path.exists(self.stage_path):
                # Nothing to write, but a staged change of an earlier fleet run must not be committed after this.
                with self._locked():
                    self._supersede_stage()
            result.update(_summary(spec, metadata, old_metadata))
            return self._finish(start, result)

        old_workers, old_metadata, metadata = self._apply_locked(spec, result)
        if result["changed"] and result["reloaded"]:
            self._drain(old_workers, result)
        result.update(_summary(spec, metadata, old_metadata))
        return self._finish(start, result)

    def _apply_locked(self, spec, result):
        """Under the lock: re-read the files, then swap them or finish a pending reload.

        Returns (old workers, old metadata, new metadata).
        """
        with self._locked():
            self._supersede_stage()
            legacy = self._migrate_legacy_backup()
            # Another run may have changed the files while we waited for the lock.
            before = self._snapshot()
            old_metadata = self._old_metadata(before)
            new_text, metadata = self._desired(spec, before)
            adoptions = self._adoptions(spec) if self.adopt and spec is not None else []
            result["adopted"] = [self._adopted_entry(adoption) for adoption in adoptions]
            old_workers = set()
            if new_text is None and not adoptions:
                result.pop("diff", None)
                result["changed"] = self._reload_pending() or legacy
                if self._reload_pending():
                    old_workers = self._reload_only(result)
            else:
                result["changed"] = True
                result["diff"] = self._diffs(before.text, new_text, adoptions)
                old_workers = self._swap(spec, before, new_text, result, adoptions)
        return old_workers, old_metadata, metadata

    def _diffs(self, before_text, new_text, adoptions):
        diffs = []
        if new_text is not None:
            diffs.append(self._file_diff(before_text, new_text))
        for adoption in adoptions:
            diffs.append({"before": adoption.snapshot.text, "after": adoption.new_text,
                          "before_header": adoption.path, "after_header": adoption.path})
        return diffs[0] if len(diffs) == 1 else diffs

    # --- state directory, lock, legacy files -----------------------------------------------

    def _prepare_state_dir(self):
        directory = os.path.dirname(self.state_base)
        try:
            os.makedirs(directory, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise SwitchError(
                f"cannot create the state directory {directory}: {exc.strerror or exc} (errno {exc.errno}): "
                f"set state_dir to a directory this user can write, outside every directory nginx includes "
                f"(default {DEFAULT_STATE_DIR}), or run the task with become; {self.path} was not changed"
            ) from None

    def _owner_for_new_files(self):
        """uid/gid of the managed file (or its directory): a root run creates state others may use later."""
        for candidate in (self.path, os.path.dirname(self.path)):
            try:
                info = os.stat(candidate)
            except OSError:
                continue
            return info.st_uid, info.st_gid
        return None

    def _lock_error(self, exc):
        try:
            owner = os.stat(self.lock_file).st_uid
        except OSError:
            owner = None
        me = os.geteuid()
        if owner is not None and owner != me:
            return (
                f"cannot open the lock file {self.lock_file}: it belongs to {_user(owner)} and this run is "
                f"{_user(me)} ({exc.strerror}); an earlier run as {_user(owner)} created it. Run the task as "
                f"{_user(owner)} (become: true), or give the state to this user: "
                f"chown -R {_user(me)} {os.path.dirname(self.state_base)}; {self.path} was not changed"
            )
        return self._write_error(self.lock_file, exc)

    def _create_lock_file(self):
        """Create the lock file once, owned like the managed file, so that file's owner can lock it too."""
        try:
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        except OSError as exc:
            raise SwitchError(self._lock_error(exc)) from None
        try:
            owner = self._owner_for_new_files()
            if os.geteuid() == 0 and owner and owner[0] != 0:
                os.fchown(fd, owner[0], owner[1])
        except OSError:
            pass
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _locked(self):
        """Hold the managed file's lock (in the state directory; its wait is lock_ms)."""
        lock_start = self.clock()
        self._prepare_state_dir()
        self._create_lock_file()
        try:
            lock = exclusive_lock(self.state_base, timeout=self.lock_timeout)
            lock.__enter__()
        except LockTimeoutError as exc:
            raise SwitchError(f"could not lock {self.path}: {exc}") from None
        except PermissionError as exc:
            raise SwitchError(self._lock_error(exc)) from None
        except OSError as exc:
            raise SwitchError(self._write_error(exc.filename or self.lock_file, exc)) from None
        try:
            self.timings["lock_ms"] = elapsed_ms(lock_start, self.clock)
            # A run killed while writing leaves its hidden temp file next to the managed file.
            remove_stale_temp_files(self.path)
            yield
        finally:
            lock.__exit__(None, None, None)

    def _legacy_reason(self, action):
        return (
            f"{self.legacy_backup} (a backup left by an earlier version) is in a directory nginx may load, where "
            f"it would define the upstreams a second time; it {action} to {self.backup_path}"
        )

    def _migrate_legacy_backup(self):
        """Move an old ``<path>.previous`` out of the include directory (under the lock). True when moved."""
        if not os.path.exists(self.legacy_backup):
            return False
        try:
            if self.backup and not os.path.exists(self.backup_path):
                shutil.move(self.legacy_backup, self.backup_path)
                self.warnings.append(self._legacy_reason("was moved"))
            else:
                os.unlink(self.legacy_backup)
                self.warnings.append(
                    f"{self.legacy_backup} (a backup left by an earlier version) was in a directory nginx may "
                    f"load; it was removed (the current backup is {self.backup_path})"
                )
        except OSError as exc:
            raise SwitchError(
                f"cannot move {self.legacy_backup} out of nginx's include directory: {exc.strerror or exc}: "
                f"move it away by hand (nginx may load it); {self.path} was not changed"
            ) from None
        return True

    # --- adoption ----------------------------------------------------------------------

    def _names(self, spec):
        names = [spec["name"]]
        if spec.get("preview"):
            names.append(preview_name(spec["name"]))
        return names

    def _foreign_definitions(self, config, names):
        """upstream blocks of ``names`` that nginx loads from files other than the managed one."""
        mine = os.path.realpath(self.path)
        return [directive for name in names for directive in config.upstreams(name)
                if os.path.realpath(directive.path) != mine]

    def _adoptions(self, spec):
        """The operator files that define this upstream (from ``nginx -T``) and their text without it."""
        try:
            config = self._config(self._dump())
        except NginxError as exc:
            raise SwitchError(
                f"{exc} before adopting (adopt=true reads the running configuration to find upstream "
                f"{spec['name']}): fix nginx's configuration first; nothing was changed: " + " | ".join(exc.lines),
                nginx_errors=exc.lines,
            ) from None
        names = self._names(spec)
        by_file = {}
        for directive in self._foreign_definitions(config, names):
            by_file.setdefault(directive.path, directive.context)
        adoptions = []
        for path, context in by_file.items():
            snapshot = FileSnapshot.take(path)
            if not snapshot.exists:
                continue
            text = snapshot.content.decode("utf-8", errors="surrogateescape")
            try:
                new_text, blocks = remove_blocks(text, path, names, context)
            except ConfigSyntaxError as exc:
                raise SwitchError(f"cannot adopt from {path}: {exc}; nothing was changed") from None
            if blocks:
                adoptions.append(Adoption(snapshot, new_text, blocks))
        return adoptions

    def _adopted_entry(self, adoption):
        return {"path": adoption.path, "upstreams": [{"name": name, "line": line} for name, line in adoption.blocks],
                "backup_file": (state_base(self.state_dir, adoption.path) + ".adopted") if self.backup else None}

    def _write_adoptions(self, adoptions):
        for adoption in adoptions:
            if self.backup:
                keep = state_base(self.state_dir, adoption.path) + ".adopted"
                os.makedirs(os.path.dirname(keep), mode=0o755, exist_ok=True)
                keep_backup(self.module, adoption.snapshot, keep)
            write_atomic(self.module, adoption.path, adoption.new_text.encode("utf-8", errors="surrogateescape"))

    def _predict(self, spec):
        """Check mode: fail now, with the real run's message, where ``nginx -T`` already tells it would fail.

        Reads the running configuration (``nginx -T`` only reads); knowable without writing: an
        upstream of this name elsewhere (without adopt), a path no include loads, options the
        including context does not have.
        """
        try:
            dump = self._dump()
        except NginxError as exc:
            if exc.lines:
                raise SwitchError(
                    f"{exc} (check mode: nginx's configuration does not pass its test already, so the run would "
                    "fail; nothing was written): " + " | ".join(exc.lines),
                    nginx_errors=exc.lines,
                ) from None
            # The program cannot run (check mode does not require it): nothing more to predict.
            self.warnings.append(f"check mode could not run nginx -T ({exc}): failures nginx would report are not "
                                 "predicted")
            return
        config = self._config(dump)
        # In the real run's order: a file no include loads cannot clash with anything, and options its context
        # lacks are refused before the write; a duplicate is what nginx -T reports after it.
        try:
            self._check_loaded(spec, dump, loaders_only=True)
        except SwitchError as exc:
            raise SwitchError(f"{exc} (check mode, nothing was written)") from None
        if not self.adopt:
            found = self._foreign_definitions(config, self._names(spec))
            if found:
                raise SwitchError(
                    f"duplicate upstream \"{found[0].args[0]}\" (check mode, nothing was written)"
                    + self._already_defined(found)
                )

    def _already_defined(self, found):
        places = ", ".join(f"upstream {directive.args[0]} in {directive.where}" for directive in found)
        return (
            f"; already defined: {places}. Set adopt: true to move that definition into {self.path} "
            "(the rest of that file is kept byte for byte)"
        )

    def _duplicate_hint(self, spec, exc):
        """After a 'duplicate upstream' refusal: where the other definition is, and that adopt takes it over."""
        if spec is None or self.adopt or not any("duplicate upstream" in line for line in exc.lines):
            return ""
        try:
            config = self._config(self.nginx.dump())
        except NginxError:
            return ""
        found = self._foreign_definitions(config, self._names(spec))
        return self._already_defined(found) if found else ""

    # --- reload-pending marker ---------------------------------------------------------------

    def _reload_pending(self):
        return self.reload and (os.path.exists(self.pending_path) or os.path.exists(self.legacy_pending))

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
        for marker in (self.pending_path, self.legacy_pending):
            try:
                os.unlink(marker)
            except FileNotFoundError:
                pass
            except OSError as exc:
                self.warnings.append(
                    f"could not remove {marker}: {exc.strerror}; the next run reloads nginx once more"
                )

    # --- nginx steps -----------------------------------------------------------------------

    def _config(self, dump):
        return Config(dump, getattr(self.nginx, "prefix", None))

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
        master, _pid_file = self._running_master(dump)
        old_workers = read_children(master)
        with self._timed("reload_ms"):
            self._reload_sent = True
            self.nginx.reload()
            new_workers = wait_for_new_workers(master, old_workers, self.reload_timeout)
        if not new_workers:
            raise SwitchError(
                f"nginx did not apply the new configuration: no new worker generation of master {master} appeared"
                f" within {self.reload_timeout} s after the reload command"
                f" {' '.join(getattr(self.nginx, 'reload_command', None) or ['(default)'])}"
                " (nginx kept the old configuration): check that reload_command signals this nginx instance"
                " (the one with that pid file) and see its error log"
            )
        result["reloaded"] = True
        result["reloaded_at"] = now_iso_ms()
        return old_workers

    def _running_master(self, dump):
        """(master pid, pid file) of the running nginx; SwitchError when it is not running."""
        master, pid_file = self.nginx.master_pid(dump)
        if master is None:
            raise SwitchError(self._not_running(pid_file))
        return master, pid_file

    def _not_running(self, pid_file):
        return (
            f"nginx is not running (no live nginx master for pid file {pid_file}); the module does not "
            "start it: start nginx, or use reload=false to only write and test the file"
            + (f" (pid file resolved against nginx_prefix {self.nginx.prefix})"
               if getattr(self.nginx, "prefix", None) else "")
        )

    def _check_loaded(self, spec, dump, loaders_only=False):
        """The managed file is loaded, in a context its options fit, and no auxiliary file can be.

        ``loaders_only``: the file may not exist yet (check mode), so an include pattern that would
        load it counts as loaded.
        """
        config = self._config(dump)
        auxiliary = [self.backup_path, self.pending_path, self.lock_file, self.stage_path,
                     os.path.join(os.path.dirname(self.path), f".{os.path.basename(self.path)}.XXXXXXXX.tmp")]
        for path in auxiliary:
            loaders = config.loaders(path)
            if loaders:
                raise SwitchError(
                    f"nginx would load {path} (include {loaders[0].args[0]} at {loaders[0].where}): set state_dir "
                    "to a directory outside every include of nginx's configuration"
                )
        if spec is None:
            return
        included = {os.path.realpath(name) for name in included_files(dump)}
        loaded = os.path.realpath(self.path) in included or (loaders_only and config.loaders(self.path))
        if not loaded:
            raise SwitchError(_include_hint(self.path, dump, _hint_context(config, self._names(spec))))
        self._check_context(spec, config)

    def _check_context(self, spec, config):
        """Options the context that includes the managed file does not have (``stream {}``: http-only ones)."""
        used = http_only_options(spec)
        if used and config.context_of(self.path) == "stream":
            raise SwitchError(
                f"{self.path} is included in stream {{ }} (TCP/UDP upstreams), where nginx has no "
                f"{' and no '.join(used)}: remove {', '.join(used)} from the task"
            )

    def _refuse_before_writing(self, spec):
        """http-only options for a file that ``stream {}`` includes: refused from the running configuration,
        before anything is written (nginx itself would only name the directive, after the write)."""
        if spec is None or not http_only_options(spec):
            return
        try:
            config = self._config(self._dump())
        except NginxError:
            return  # the test after the write reports nginx's own error and restores the file
        try:
            self._check_context(spec, config)
        except SwitchError as exc:
            raise SwitchError(f"{exc}; {self.path} was not changed") from None

    def _write(self, spec, new_text):
        """Replace or remove the file; SwitchError (nothing changed) when the filesystem refuses."""
        try:
            self._write_file(spec, new_text)
        except OSError as exc:
            # The rename (or unlink) did not happen, so the file is untouched: nothing to restore.
            raise SwitchError(self._write_error(self.path, exc)) from None

    def _restored(self, before, adoptions):
        what = f"{self.path} was restored" if before.exists else f"{self.path} was removed again"
        for adoption in adoptions:
            what += f", {adoption.path} was restored"
        return what

    def _swap(self, spec, before, new_text, result, adoptions=()):
        """Write, test, check the include, reload and confirm; restore every file on any failure."""
        self._reload_sent = False
        self._refuse_before_writing(spec)
        had_pending = os.path.exists(self.pending_path)
        if self.reload:
            self._mark_pending()
        written = []
        try:
            for adoption in adoptions:
                written.append(adoption)
                self._write_adoptions([adoption])
            if new_text is not None:
                self._write(spec, new_text)
        except (SwitchError, OSError) as exc:
            self._undo(before, had_pending, written, managed_written=False)
            raise SwitchError(
                f"{exc}" + (f" ({self._restored(before, written)})" if written else "")
            ) from None
        try:
            dump = self._dump()
            self._check_loaded(spec, dump)
            old_workers = set()
            if self.reload:
                old_workers = self._reload_nginx(dump, result)
        except NginxError as exc:
            self._undo(before, had_pending, adoptions)
            hint = self._duplicate_hint(spec, exc)
            raise SwitchError(
                f"{exc}; {self._restored(before, adoptions)} and nginx keeps serving the previous configuration: "
                + " | ".join(exc.lines) + hint,
                nginx_errors=exc.lines,
            ) from None
        except (SwitchError, OSError) as exc:
            self._undo(before, had_pending, adoptions)
            raise SwitchError(f"{exc} ({self._restored(before, adoptions)}, nothing changed)") from None
        except Exception:
            self._undo(before, had_pending, adoptions)
            raise
        if self.reload:
            self._clear_pending()
        if new_text is not None:
            self._keep_backup(before, result)
        return old_workers

    def _undo(self, before, had_pending, adoptions=(), managed_written=True):
        try:
            if managed_written:
                restore(self.module, before)
            for adoption in adoptions:
                restore(self.module, adoption.snapshot)
        except OSError as exc:
            raise SwitchError(
                f"restoring {exc.filename or self.path} failed: {exc.strerror or exc} (errno {exc.errno}); it may "
                f"hold the new candidate: check it and run the switch again (the marker {self.pending_path} makes "
                "the re-run reload)"
            ) from None
        if self._reload_sent:
            # nginx may still pick the candidate up late: reload once more so it runs the restored file.
            self._reload_after_restore(self.nginx.reload, NginxError)
        # The files are back as they were, so this run leaves nothing behind (the warning above covers a failed
        # reload).
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

    # --- two-phase switch across a fleet (phase=stage / commit / abort) ------------------------

    def _phase_result(self, phase, stage_id):
        result = {"changed": False, "path": self.path, "reloaded": False, "reloaded_at": None, "drained": False,
                  "backup_file": None, "adopted": []}
        result.update(staging.phase_result(phase, stage_id))
        return result

    def _supersede_stage(self, keep_id=None):
        """Under the lock: drop an expired stage record, and one of another stage_id (a later run always wins).

        Returns the unexpired record of ``keep_id`` (None when there is none).
        """
        record = staging.discard_stale(self.stage_path, warnings=self.warnings)
        if record is None:
            return None
        if record.stage_id == keep_id:
            return record
        record.remove()
        self.warnings.append(
            f"superseded the staged change {record.stage_id} of {self.path} (never committed, it would have expired "
            f"at {record.expires_at}): this run wins, and a commit of stage {record.stage_id} will be refused"
        )
        return None

    def stage(self, spec, stage_id, ttl):
        """Phase one: compute, write and test the candidate under the lock, put the file back, keep a stage record.

        nginx is never reloaded and the managed file is what it was afterwards (byte for byte).
        """
        start = self.clock()
        self._require_directory()
        before = self._snapshot()
        old_metadata = self._old_metadata(before)
        new_text, metadata = self._desired(spec, before)
        result = self._phase_result("stage", stage_id)
        if new_text is not None:
            result["diff"] = self._file_diff(before.text, new_text)
        if self.module.check_mode:
            if new_text is not None:
                self._predict(spec)
            result.update(_summary(spec, metadata, old_metadata))
            return self._finish(start, result)
        with self._locked():
            self._supersede_stage(keep_id=stage_id)
            self._migrate_legacy_backup()
            # Another run may have changed the file while we waited for the lock.
            before = self._snapshot()
            old_metadata = self._old_metadata(before)
            rendered_at = now_iso()
            new_text, metadata = self.managed.desired(spec, before, rendered_at)
            result.pop("diff", None)
            if new_text is not None:
                result["diff"] = self._file_diff(before.text, new_text)
            pending = self._reload_pending()
            # Nothing to write and nothing to reload: the commit only has to remove the record.
            noop = new_text is None and not pending
            pid_file = None if noop else self._test_in_place(spec, before, new_text)
            candidate = before.text if new_text is None else new_text
            now = time.time()
            record = staging.StageRecord(
                self.stage_path, stage_id, created=now, expires=now + ttl,
                base_sha256=staging.sha256_text(before.content), candidate_sha256=staging.sha256_text(candidate),
                candidate=None if noop else candidate, noop=noop,
                details={"path": self.path, "rendered_at": rendered_at, "pid_file": pid_file,
                         "reload_pending": pending},
            )
            record.save(self.module)
        result.update(staged=True, stage_expires_at=record.expires_at)
        result.update(_summary(spec, metadata, old_metadata))
        return self._finish(start, result)

    def _test_in_place(self, spec, before, new_text):
        """Write the candidate, run ``nginx -T`` and apply's checks, then put the previous file back.

        Returns the pid file of the running master (None with reload=false). Any failure restores
        the file and raises SwitchError (nothing staged), with nginx's lines as apply reports them.
        """
        self._reload_sent = False
        self._refuse_before_writing(spec)
        had_pending = os.path.exists(self.pending_path)
        # If this run dies before the file is put back, the next run finds the marker and reloads.
        if self.reload:
            self._mark_pending()
        written = new_text is not None
        if written:
            try:
                self._write(spec, new_text)
            except SwitchError:
                self._undo_marker(had_pending)
                raise
        restored = self._restored(before, ()) if written else f"{self.path} was not changed"
        try:
            dump = self._dump()
            self._check_loaded(spec, dump)
            pid_file = self._running_master(dump)[1] if self.reload else None
        except NginxError as exc:
            self._undo(before, had_pending, managed_written=written)
            raise SwitchError(
                f"{exc}; {restored}, nothing was staged and nginx keeps serving the previous configuration: "
                + " | ".join(exc.lines) + self._duplicate_hint(spec, exc),
                nginx_errors=exc.lines,
            ) from None
        except (SwitchError, OSError) as exc:
            self._undo(before, had_pending, managed_written=written)
            raise SwitchError(f"{exc} ({restored}, nothing was staged)") from None
        except Exception:
            self._undo(before, had_pending, managed_written=written)
            raise
        self._undo(before, had_pending, managed_written=written)
        return pid_file

    def _staged_candidate(self, record, spec, before):
        """(new text or None, metadata, candidate) recomputed from the commit's arguments; refused unless the
        stage tested exactly this candidate (same arguments, same base file, same rendering time)."""
        new_text, metadata = self.managed.desired(spec, before, record.details.get("rendered_at"))
        candidate = before.text if new_text is None else new_text
        if staging.sha256_text(candidate) != record.candidate_sha256 or (
                not record.noop and record.candidate != candidate):
            raise SwitchError(
                f"this commit's arguments describe another change than the one stage {record.stage_id} tested "
                "(options differ from the stage task's): nothing was changed and the stage was removed; run stage "
                "and commit with the same arguments"
            )
        return new_text, metadata, candidate

    def _check_commit_instant(self, record, commit_at):
        if commit_at is not None and commit_at >= record.expires:
            raise SwitchError(
                f"commit_at {staging.iso_ms(commit_at)} is after stage {record.stage_id} expires "
                f"({record.expires_at}): a commit never applies an expired stage; raise stage_ttl or commit sooner. "
                "Nothing was changed"
            )

    def commit(self, spec, stage_id, commit_at):
        """Phase two: prepare everything, sleep until ``commit_at`` (epoch or None), then rename and reload.

        No ``nginx -t`` here: the stage tested these exact bytes, and the claim refuses when the file
        changed since. When nginx does not take the candidate, the previous file goes back.
        """
        start = self.clock()
        self._require_directory()
        result = self._phase_result("commit", stage_id)
        result["commit_at"] = None if commit_at is None else staging.iso_ms(commit_at)
        if self.module.check_mode:
            before = self._snapshot()
            record = staging.claim_for_commit(self.stage_path, stage_id, staging.sha256_text(before.content),
                                              dry_run=True)
            self._check_commit_instant(record, commit_at)
            new_text, metadata, candidate = self._staged_candidate(record, spec, before)
            result["changed"] = not record.noop or self._reload_pending()
            if new_text is not None:
                result["diff"] = self._file_diff(before.text, candidate)
            result.update(_summary(spec, metadata, self._old_metadata(before)))
            return self._finish(start, result)
        old_workers = set()
        with self._locked():
            before = self._snapshot()
            old_metadata = self._old_metadata(before)
            record = staging.claim_for_commit(self.stage_path, stage_id, staging.sha256_text(before.content))
            try:
                self._check_commit_instant(record, commit_at)
                new_text, metadata, candidate = self._staged_candidate(record, spec, before)
                if record.noop:
                    record.remove()
                    result["changed"] = self._reload_pending()
                    if result["changed"]:
                        old_workers = self._reload_only(result)
                else:
                    result["changed"] = True
                    if new_text is not None:
                        result["diff"] = self._file_diff(before.text, candidate)
                    old_workers = self._commit_candidate(record, before, candidate, commit_at, result)
            finally:
                # Committed or refused, this stage is used up.
                record.remove()
        if result["changed"] and result["reloaded"]:
            self._drain(old_workers, result)
        late = result["commit_late_ms"]
        if late is not None and late > 1000:
            self.warnings.append(
                f"this host started its commit {late:.0f} ms after commit_at {result['commit_at']}: the fleet's "
                "skew includes that (give the controller more margin between the last stage and commit_at)"
            )
        result.update(_summary(spec, metadata, old_metadata))
        return self._finish(start, result)

    def _master_for_commit(self, record):
        """The running master, from the pid file the stage resolved (no nginx -T at commit time)."""
        pid_file = record.details.get("pid_file")
        if pid_file:
            master = self.nginx.master_of(pid_file)
        else:
            master, pid_file = self.nginx.master_pid(self._dump())
        if master is None:
            raise SwitchError(f"{self._not_running(pid_file)}; stage {record.stage_id} was not committed and "
                              f"{self.path} was not changed")
        return master

    def _candidate_file(self, before, candidate):
        """The candidate, written and synced into a hidden temp file next to the managed file, with its mode
        and owner, so the commit itself is one rename. A killed run's temp file goes with the next lock."""
        directory, name = os.path.split(self.path)
        try:
            fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise SwitchError(self._write_error(directory, exc)) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(candidate.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            if before.exists:
                os.chmod(temp, before.mode)
                if os.geteuid() == 0 and (before.uid, before.gid) != (0, 0):
                    os.chown(temp, before.uid, before.gid)
                selinux = getattr(self.module, "selinux_enabled", None)
                if selinux is not None and selinux():
                    self.module.set_context_if_different(temp, self.module.selinux_context(self.path), False)
            else:
                os.chmod(temp, 0o644)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise SwitchError(self._write_error(temp, exc)) from None
        return temp

    def _commit_candidate(self, record, before, candidate, commit_at, result):
        """Everything slow before the sleep; at the instant only the rename and the reload signal."""
        self._reload_sent = False
        master = None
        old_workers = set()
        if self.reload:
            master = self._master_for_commit(record)
            old_workers = read_children(master)
        had_pending = os.path.exists(self.pending_path)
        # The marker first: whenever a prepared candidate exists, the marker does too (a run killed from here on
        # leaves it, and the next run reloads once more).
        if self.reload:
            self._mark_pending()
        try:
            temp = self._candidate_file(before, candidate)
        except SwitchError:
            self._undo_marker(had_pending)
            raise
        renamed = False
        try:
            result["commit_late_ms"] = staging.sleep_until(commit_at)
            os.rename(temp, self.path)
            renamed = True
            committed = time.time()
            reload_start = self.clock()
            if self.reload:
                self._reload_sent = True
                self.nginx.reload_master(master)
            result["committed_at"] = staging.iso_ms(committed)
            if self.reload:
                new_workers = wait_for_new_workers(master, old_workers, self.reload_timeout)
                self.timings["reload_ms"] = elapsed_ms(reload_start, self.clock)
                if not new_workers:
                    raise SwitchError(
                        f"nginx did not apply the staged configuration: no new worker generation of master {master} "
                        f"appeared within {self.reload_timeout} s after the reload (nginx refused it at reload time, "
                        "see its error log)"
                    )
                result["reloaded"] = True
                result["reloaded_at"] = now_iso_ms()
        except (SwitchError, NginxError, OSError) as exc:
            if not renamed:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                self._undo_marker(had_pending)
                raise SwitchError(f"{exc}; stage {record.stage_id} was not committed and {self.path} was not "
                                  "changed") from None
            raise self._commit_failed(before, had_pending, master, exc) from None
        except BaseException:
            if not renamed:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
            raise
        if self.reload:
            self._clear_pending()
        self._keep_backup(before, result)
        return old_workers

    def _commit_failed(self, before, had_pending, master, exc):
        """After the rename nginx did not take the candidate: put the previous file back and reload once more."""
        lines = list(getattr(exc, "lines", None) or [])
        if not lines and self._reload_sent:
            # The master logs why it refused to its error log only; nginx -t on the same files (the candidate is
            # still in place) names the reason in the task's failure. This is the failure path: time is no issue.
            try:
                self.nginx.test()
            except NginxError as err:
                lines = err.lines
        try:
            restore(self.module, before)
        except OSError as err:
            return SwitchError(
                f"{exc}; restoring {self.path} failed: {err.strerror or err}: it may hold the staged candidate; "
                f"check it and run the switch again (the marker {self.pending_path} makes the re-run reload)",
                nginx_errors=lines,
            )
        back = "nginx keeps its previous configuration"
        if self._reload_sent and master is not None:
            workers = read_children(master)
            try:
                self.nginx.reload_master(master)
                confirmed = wait_for_new_workers(master, workers, self.reload_timeout)
            except NginxError as err:
                self.warnings.append(f"reload after restoring {self.path} failed: {err}")
                confirmed = set()
            back = ("nginx was reloaded with it" if confirmed else
                    "nginx kept its previous configuration (the reload of the restored file was not confirmed "
                    "either: see nginx's error log)")
        self._undo_marker(had_pending)
        return SwitchError(
            f"{exc}; {self.path} was restored and {back}: this load balancer is back on its previous file"
            + (": " + " | ".join(lines) if lines else ""),
            nginx_errors=lines,
        )

    def abort(self, spec, stage_id):
        """Remove this host's stage record of ``stage_id`` (never touches the managed file)."""
        start = self.clock()
        result = self._phase_result("abort", stage_id)
        before = FileSnapshot.take(self.path)
        current = self._old_metadata(before) if before.exists and self.managed.is_managed(before.text) else None
        result.update(_summary(spec, current, None))
        record = staging.StageRecord.load(self.stage_path)
        if record is None or record.stage_id != stage_id:
            return self._finish(start, result)
        result["changed"] = True
        if self.module.check_mode:
            return self._finish(start, result)
        with self._locked():
            record = staging.StageRecord.load(self.stage_path)
            result["changed"] = record is not None and record.stage_id == stage_id
            if result["changed"]:
                record.remove()
        return self._finish(start, result)


def run_phase(switch, spec, params):
    """Run ``params['phase']`` of ``switch`` (an UpstreamSwitch) for ``spec``; returns the result dict."""
    phase = params.get("phase") or "apply"
    stage_id = params.get("stage_id")
    if phase == "stage":
        return switch.stage(spec, stage_id, params["stage_ttl"])
    if phase == "commit":
        commit_at = staging.parse_commit_at(params.get("commit_at"))
        staging.check_commit_at(commit_at, time.time())
        return switch.commit(spec, stage_id, commit_at)
    if phase == "abort":
        return switch.abort(spec, stage_id)
    return switch.run(spec)
