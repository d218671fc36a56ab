# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""failure_message and one_line, checked against the Jinja the playbooks used before."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.switchyard.bluegreen.plugins.filter import failure

OLD_MESSAGE = "{{ results | map(attribute='msg', default='') | map('string') | select | first | default('') }}"
OLD_ONE_LINE = "{{ text | regex_replace('\\s+', ' ') | trim | truncate(length) }}"

WORDS = " ".join(f"word{n}" for n in range(200))


def test_filter_module_exposes_every_filter():
    assert set(failure.FilterModule().filters()) == {"failure_message", "failure_outcome", "one_line"}


@pytest.mark.parametrize(
    "results",
    [
        [],
        [{"msg": ""}, {"msg": "nginx rejected the switch"}],
        [{"changed": False}, {"msg": "second"}],
        [{"msg": ["a", "list"]}],
        [{"msg": None}],
        [{"msg": 0}, {"msg": "later"}],
    ],
)
def test_failure_message_matches_the_expression_it_replaced(render, results):
    assert failure.failure_message(results) == render(OLD_MESSAGE, results=results)


def test_failure_message_is_the_first_reason():
    assert failure.failure_message([{"msg": ""}, {"msg": "b"}, {"msg": "c"}]) == "b"
    assert failure.failure_message([{"rc": 1}]) == ""


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("  Smoke test of green FAILED,\n  no switch was made.\n\t[health via direct] 500 x20 ", 500),
        (WORDS, 500),
        (WORDS[:503], 500),  # within the leeway: kept whole
        (WORDS[:506], 500),  # just past it: cut
        ("x" * 600, 500),  # no space to cut at
        ("", 500),
        (WORDS, 20),
    ],
)
def test_one_line_matches_the_expression_it_replaced(render, text, length):
    assert failure.one_line(text, length) == render(OLD_ONE_LINE, text=text, length=length)


def test_one_line_joins_lines_and_cuts_at_a_word():
    assert failure.one_line("a\n  b  ") == "a b"
    cut = failure.one_line(WORDS, 100)
    assert cut.endswith("...") and len(cut) <= 100 and "\n" not in cut
    assert failure.one_line(None) == ""


def test_bad_input_is_refused():
    with pytest.raises(AnsibleFilterError, match="list of failed task results"):
        failure.failure_message("boom")
    with pytest.raises(AnsibleFilterError, match="every failed result must be a dict"):
        failure.failure_message(["boom"])
    with pytest.raises(AnsibleFilterError, match="length must be an integer"):
        failure.one_line("a", "long")
    with pytest.raises(AnsibleFilterError, match="at least 3"):
        failure.one_line("a", 2)


# failure.yml before the filter, with the facts it read passed in as variables.
OLD_OUTCOME = """{%- set switched_back = rollback | bool and live_before | default('', true) | length > 0
      and not router_failed -%}
{%- set live = live_before if not started or verification is none
      else target if verification.passed | bool
      else live_before if switched_back
      else target -%}
{%- set switched = live is not none and live != live_before -%}
{{ {'live': live, 'switched': switched, 'previous': live_before if switched else previous_before} }}"""

OUTCOME_CASES = [
    # (live_before, previous_before, target, started, verification, rollback, router_failed)
    ("blue", "green", None, False, None, True, False),  # failed before the router was touched
    (None, None, None, False, None, True, False),  # refused before the router was read
    ("blue", "green", "green", True, None, True, True),  # a router could not switch, all put back
    ("blue", "green", "green", True, {"passed": True}, True, False),  # failed after a good verification
    ("blue", "green", "green", True, {"passed": False}, True, False),  # switched back
    ("blue", "green", "green", True, {"passed": False}, False, False),  # switch-back off
    ("blue", "green", "green", True, {"passed": False}, True, True),  # the switch-back failed
    (None, None, "green", True, {"passed": False}, True, False),  # split before: nothing to go back to
    ("green", "blue", "green", True, {"passed": True}, True, False),  # forced re-apply of the live colour
]


@pytest.mark.parametrize("case", OUTCOME_CASES)
def test_failure_outcome_matches_the_expression_it_replaced(render, case):
    live_before, previous_before, target, started, verification, rollback, router_failed = case
    old = render(OLD_OUTCOME, live_before=live_before, previous_before=previous_before, target=target,
                 started=started, verification=verification, rollback=rollback, router_failed=router_failed)
    assert failure.failure_outcome(
        live_before, previous_before=previous_before, target=target, started=started, verification=verification,
        rollback_on_failure=rollback, router_failed=router_failed) == old


def test_failure_outcome_rows_of_the_playbook_docs():
    failed = {"passed": False}
    assert failure.failure_outcome("blue", previous_before="green") == {
        "live": "blue", "switched": False, "previous": "green"}
    assert failure.failure_outcome("blue", target="green", started=True, verification=failed) == {
        "live": "blue", "switched": False, "previous": None}
    assert failure.failure_outcome("blue", target="green", started=True, verification=failed,
                                   rollback_on_failure=False) == {"live": "green", "switched": True, "previous": "blue"}
    assert failure.failure_outcome("blue", target="green", started="yes", verification=failed, router_failed=True)[
        "live"] == "green"


def test_failure_outcome_refuses_a_bad_verification_or_flag():
    with pytest.raises(AnsibleFilterError, match="verification result with 'passed'"):
        failure.failure_outcome("blue", target="green", started=True, verification={"summary": "x"})
    with pytest.raises(AnsibleFilterError, match="started must be a boolean"):
        failure.failure_outcome("blue", started="perhaps")
