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
    assert set(failure.FilterModule().filters()) == {"failure_message", "one_line"}


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
