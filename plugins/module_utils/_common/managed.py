# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reading managed files back, for the ``_info`` modules of every file-based router.

``read_managed`` returns what the router's ``describe(text, path)`` makes of one file (an
explicit path) or of every managed file in a directory (files without the metadata line
are skipped there). Errors are ``InputError`` (a path that holds no managed file) or
``ExternalError`` (a file that cannot be read), with the same messages the modules used.
"""

from __future__ import annotations

import glob
import os

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import ExternalError, InputError


def read_text(path):
    """The file's text (undecodable bytes replaced); ExternalError when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", errors="replace")
    except OSError as exc:
        raise ExternalError(f"cannot read {path}: {exc}") from None


def read_managed(describe, *, owner, kind, conf_dir, pattern, path=None):
    """Name -> ``describe(text, path)`` of the managed file ``path``, or of every one in ``conf_dir``.

    ``owner`` is the module that writes the files (for the error message), ``kind`` what one
    file holds (``upstream``, ``backend``) and ``pattern`` the glob of the router's files.
    """
    found = {}
    if path is not None:
        if not os.path.exists(path):
            raise InputError(f"{path} does not exist: no managed {kind} there")
        info = describe(read_text(path), path)
        if info is None:
            raise InputError(f"{path} is not managed by {owner} (no metadata line)")
        found[info["name"]] = info
        return found
    if not os.path.isdir(conf_dir):
        raise InputError(f"conf_dir {conf_dir} is not a directory")
    for candidate in sorted(glob.glob(os.path.join(conf_dir, pattern))):
        info = describe(read_text(candidate), candidate)
        if info is not None:
            found[info["name"]] = info
    return found
