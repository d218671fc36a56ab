# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File helpers the tests share."""

from __future__ import annotations

import hashlib
from pathlib import Path


def digest(path) -> str | None:
    """SHA-256 of a file's bytes, or None when it does not exist (so "unchanged" covers "still absent")."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
