# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX output contract (the set_stats data every playbook publishes), built in one pass.

Documentation: publish_data.yml next to this file.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.switchyard.bluegreen.plugins.filter.failure import one_line

MODES = ("result", "failure", "status")
# The longest bluegreen_failure a workflow variable carries.
FAILURE_LENGTH = 500


def _mapping(value, name):
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AnsibleFilterError(f"publish_data: {name} must be a dict, got {type(value).__name__}")
    return value


def publish_data(mode, *, result=None, failure=None, live=None, previous=None, override=None, steps=None,
                 version=None, duration_key="", started=None, now=None, extra=None):
    """The set_stats data of one playbook run; see publish_data.yml for each argument."""
    if mode not in MODES:
        raise AnsibleFilterError(f"publish_data: mode must be one of {', '.join(MODES)}, got {mode!r}")
    override = _mapping(override, "override")
    if mode == "failure":
        failure = _mapping(failure, "failure")
        outcome = {**failure, "started_at": failure.get("switched_at")}
    elif mode == "status":
        outcome = {"live": live, "previous": previous}
    elif override:
        outcome = {}
    else:
        outcome = dict(_mapping(result, "result"))
    outcome.update(override)

    data = {"bluegreen_live_color": outcome.get("live"), "bluegreen_previous_color": outcome.get("previous")}
    if mode != "status":
        data.update({
            "bluegreen_switched": outcome.get("switched"),
            "bluegreen_switched_at": outcome.get("started_at"),
            "bluegreen_switch_duration_s": outcome.get("duration_s"),
            "bluegreen_reload_skew_s": outcome.get("reload_skew_s"),
            "bluegreen_verification": outcome.get("verification"),
            "bluegreen_failed": mode == "failure",
            "bluegreen_failure": one_line(outcome.get("message"), FAILURE_LENGTH) if mode == "failure" else None,
            "bluegreen_failed_task": outcome.get("task") if mode == "failure" else None,
            "bluegreen_steps": list(steps or []),
        })
    if version is not None:
        data["bluegreen_version"] = version
    if duration_key:
        try:
            data[duration_key] = round(float(now) - float(started), 3)
        except (TypeError, ValueError) as exc:
            raise AnsibleFilterError(
                f"publish_data: {duration_key} needs started and now as epoch seconds, got {started!r} and {now!r}"
            ) from exc
    data.update(_mapping(extra, "extra"))
    return data


class FilterModule:
    def filters(self):
        return {"publish_data": publish_data}
