# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Private file helpers shared by the collection's load-balancer modules.

- ``FileSnapshot``: the exact bytes, mode and owner of a file (or its absence), so a
  failed change can be put back exactly.
- ``write_atomic``: temp file in the same directory, then ``module.atomic_move`` (a
  rename), so a reader never sees half a file.
- ``exclusive_lock``: an ``fcntl`` lock on ``<dir>/.<name>.lock`` so two runs that
  manage the same file serialise instead of interleaving.
"""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
import time
from contextlib import contextmanager, suppress


class LockTimeoutError(Exception):
    """Another run held the lock for longer than the caller was willing to wait."""


class FileSnapshot:
    """Content and ownership of one path at one moment (``content`` None: it did not exist)."""

    def __init__(self, path, content=None, mode=None, uid=None, gid=None):
        self.path = path
        self.content = content
        self.mode = mode
        self.uid = uid
        self.gid = gid

    @property
    def exists(self):
        return self.content is not None

    @property
    def text(self):
        return None if self.content is None else self.content.decode("utf-8", errors="replace")

    @classmethod
    def take(cls, path):
        try:
            with open(path, "rb") as handle:
                content = handle.read()
                info = os.fstat(handle.fileno())
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return cls(path)
            raise
        return cls(path, content, info.st_mode & 0o7777, info.st_uid, info.st_gid)


def lock_path_for(path):
    """The lock file that guards ``path``: hidden, next to it, never matched by ``*.conf``."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{name}.lock")


@contextmanager
def exclusive_lock(path, timeout=60.0, poll_interval=0.05):
    """Hold an exclusive lock for ``path`` (waiting up to ``timeout`` seconds for it)."""
    lock_file = lock_path_for(path)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        f"another run still holds {lock_file} after {timeout:.0f} s"
                    ) from None
                time.sleep(poll_interval)
        yield lock_file
    finally:
        # Closing the descriptor releases the lock.
        os.close(fd)


def write_atomic(module, path, content, *, mode=None, uid=None, gid=None):
    """Replace ``path`` with ``content`` (bytes) through a temp file in the same directory.

    An existing file keeps its mode and owner (``atomic_move`` copies them); a new file
    gets ``mode`` (default 0644) and, when given, ``uid``/``gid``.
    """
    directory = os.path.dirname(os.path.abspath(path))
    existed = os.path.exists(path)
    fd, temp_path = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if not existed:
            os.chmod(temp_path, 0o644 if mode is None else mode)
            if uid is not None or gid is not None:
                os.chown(temp_path, -1 if uid is None else uid, -1 if gid is None else gid)
        module.atomic_move(temp_path, os.path.abspath(path), unsafe_writes=False)
    finally:
        if os.path.exists(temp_path):
            os.unlink(temp_path)
    if existed and mode is not None:
        os.chmod(path, mode)
        if uid is not None or gid is not None:
            os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)


def remove_stale_temp_files(path):
    """Remove the temp files ``write_atomic`` left for ``path`` when its process was killed.

    Call it only while holding ``path``'s lock: no other run is writing then, so every such
    file is stale. Best effort: returns the names removed.
    """
    directory, base = os.path.split(os.path.abspath(path))
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if name.startswith(f".{base}.") and name.endswith(".tmp"):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                continue
            removed.append(name)
    return removed


def restore(module, snapshot):
    """Put ``snapshot.path`` back exactly as it was: same bytes, mode and owner, or absent."""
    if not snapshot.exists:
        with suppress(FileNotFoundError):
            os.unlink(snapshot.path)
        return
    write_atomic(module, snapshot.path, snapshot.content, mode=snapshot.mode, uid=snapshot.uid, gid=snapshot.gid)


def keep_backup(module, snapshot, backup_path):
    """Store ``snapshot`` (the previous content) as ``backup_path`` with its mode and owner."""
    if not snapshot.exists:
        return None
    write_atomic(module, backup_path, snapshot.content, mode=snapshot.mode, uid=snapshot.uid, gid=snapshot.gid)
    return backup_path


class ProgramNotFoundError(ValueError):
    """A program an option names does not exist or cannot be executed."""


def resolve_program(module, program, option, opt_dirs=("/usr/sbin", "/sbin")):
    """The absolute path of ``program`` (named by ``option``); ProgramNotFoundError when it cannot run.

    Checked before anything is written, so a typo fails cleanly instead of after the candidate
    file is in place.
    """
    if os.path.isabs(program) or os.sep in program:
        path = os.path.abspath(program)
        if not os.path.exists(path):
            raise ProgramNotFoundError(f"{option}: {program} does not exist: install it or correct {option}")
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            raise ProgramNotFoundError(
                f"{option}: {program} is not an executable file: correct {option} or fix its permissions"
            )
        return path
    path = module.get_bin_path(program, required=False, opt_dirs=list(opt_dirs))
    if not path:
        raise ProgramNotFoundError(
            f"{option}: program {program!r} was not found in PATH nor in {', '.join(opt_dirs)}: "
            f"install it or set {option} to its absolute path"
        )
    return path
