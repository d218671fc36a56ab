# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn a failed play's results into the one-line reason the playbooks publish.

Documentation: failure_message.yml, failure_outcome.yml and one_line.yml next to this file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

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


def _flag(value, name):
    try:
        return boolean(value, strict=True)
    except TypeError as exc:
        raise AnsibleFilterError(f"failure_outcome: {name} must be a boolean, got {value!r}") from exc


def failure_outcome(live_before, *, previous_before=None, target=None, started=False, verification=None,
                    rollback_on_failure=True, router_failed=False):
    """What a failed play left live: {live, switched, previous}.

    Not started, or no verification result (a router could not switch and every one was put back):
    the colour live before. Verification passed: the target. Failed: the colour live before when the
    role switched back (switch-back on, a colour to go back to, no router failed), else the target.
    """
    if not _flag(started, "started") or verification is None:
        live = live_before
    else:
        if not isinstance(verification, Mapping) or "passed" not in verification:
            raise AnsibleFilterError(
                f"failure_outcome: verification must be the verification result with 'passed', got {verification!r}")
        switched_back = _flag(rollback_on_failure, "rollback_on_failure") and bool(live_before) and not _flag(
            router_failed, "router_failed")
        if _flag(verification["passed"], "verification.passed"):
            live = target
        else:
            live = live_before if switched_back else target
    switched = live is not None and live != live_before
    return {"live": live, "switched": switched, "previous": live_before if switched else previous_before}


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
            "failure_outcome": failure_outcome,
            "one_line": one_line,
        }
