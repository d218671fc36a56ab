# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn a failed play's results into the one-line reason the playbooks publish.

Documentation: failure_message.yml and one_line.yml next to this file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

# Jinja's truncate keeps a string up to this many characters over the limit (its truncate.leeway policy).
TRUNCATE_LEEWAY = 5
TRUNCATE_END = "..."


def failure_message(results):
    """The first non-empty msg among the failed results (ansible_failed_result of each host), else ''."""
    if isinstance(results, (str, bytes, Mapping)) or not isinstance(results, Sequence):
        raise AnsibleFilterError(
            f"failure_message expects a list of failed task results, got {type(results).__name__}")
    for result in results:
        if not isinstance(result, Mapping):
            raise AnsibleFilterError(f"failure_message: every failed result must be a dict, got {result!r}")
        message = str(result.get("msg", ""))
        if message:
            return message
    return ""


def one_line(text, length=500):
    """Whitespace runs to one space, trimmed, then cut at a word to at most length characters (Jinja's truncate)."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        text = str(text)
    try:
        length = int(length)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"one_line: length must be an integer, got {length!r}") from exc
    if length < len(TRUNCATE_END):
        raise AnsibleFilterError(f"one_line: length must be at least {len(TRUNCATE_END)}, got {length}")
    line = re.sub(r"\s+", " ", text).strip()
    if len(line) <= length + TRUNCATE_LEEWAY:
        return line
    return line[: length - len(TRUNCATE_END)].rsplit(" ", 1)[0] + TRUNCATE_END


class FilterModule:
    """Failure reporting."""

    def filters(self):
        return {
            "failure_message": failure_message,
            "one_line": one_line,
        }
