# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that decide colours from what the routers report (the switch role's detect step).

Documentation: live_color.yml, target_color.yml and switch_needed.yml next to this file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

COLORS = ("blue", "green")


def _reported(lives, filter_name):
    """The router reports as a list, first-seen order, duplicates removed (None is a value: split traffic)."""
    if isinstance(lives, (str, bytes, Mapping)) or not isinstance(lives, Sequence):
        raise AnsibleFilterError(
            f"{filter_name} expects a list of the live colours the routers report, got {type(lives).__name__}")
    distinct = []
    for live in lives:
        if live not in distinct:
            distinct.append(live)
    return distinct


def live_color(lives):
    """The one colour every router reports live; None when they disagree, split traffic or none reported."""
    distinct = _reported(lives, "live_color")
    return distinct[0] if len(distinct) == 1 else None


def target_color(lives, requested=""):
    """The requested colour, else the colour that is not live when the routers agree, else ''."""
    if requested is None:
        requested = ""
    if not isinstance(requested, str):
        raise AnsibleFilterError(f"target_color: the requested colour must be a string, got {type(requested).__name__}")
    if requested:
        return requested
    distinct = _reported(lives, "target_color")
    if len(distinct) != 1:
        return ""
    # Routers that all report "split" (None) agree on no colour: blue, the first one, as before.
    return next(color for color in COLORS if color != distinct[0])


def switch_needed(lives, target, force=False):
    """True when there is a target and a router does not serve it yet (or force asks to re-apply)."""
    if lives is None or isinstance(lives, (str, bytes, Mapping)) or not isinstance(lives, Sequence):
        raise AnsibleFilterError("switch_needed expects a list of the live colours the routers report")
    if not target:
        return False
    try:
        forced = boolean(force, strict=True)
    except TypeError as exc:
        raise AnsibleFilterError(f"switch_needed: force must be a boolean, got {force!r}") from exc
    return forced or any(live != target for live in lives)


class FilterModule:
    """Colour decisions."""

    def filters(self):
        return {
            "live_color": live_color,
            "target_color": target_color,
            "switch_needed": switch_needed,
        }
