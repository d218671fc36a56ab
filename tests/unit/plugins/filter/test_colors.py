# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""live_color, target_color and switch_needed: the switch role's decision, checked against the Jinja it replaced."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.switchyard.bluegreen.plugins.filter import colors

# The expressions detect.yml used before the filters (switch_lives is the unique list).
OLD_TARGET = (
    "{{ switch_target_color if switch_target_color | length > 0"
    " else (['blue', 'green'] | reject('equalto', switch_lives | first) | first"
    " if switch_lives | length == 1 else '') }}"
)
OLD_NEEDED = (
    "{{ switch_target | length > 0 and (switch_force | bool or"
    " lives | reject('equalto', switch_target) | list | length > 0) }}"
)

REPORTS = [[], ["blue"], ["blue", "blue"], ["green", "green", "green"], ["blue", "green"], [None], [None, None],
           ["blue", None], [None, "green"]]


def test_filter_module_exposes_every_filter():
    assert set(colors.FilterModule().filters()) == {"live_color", "target_color", "switch_needed"}


@pytest.mark.parametrize(
    ("lives", "expected"),
    [(["blue"], "blue"), (["green", "green"], "green"), (["blue", "green"], None), ([], None), ([None, None], None),
     (["blue", None], None)],
)
def test_live_color_is_the_colour_every_router_agrees_on(lives, expected):
    assert colors.live_color(lives) == expected


@pytest.mark.parametrize("lives", REPORTS)
@pytest.mark.parametrize("requested", ["", "blue", "green"])
def test_target_color_matches_the_expression_it_replaced(render, lives, requested):
    unique = list(dict.fromkeys(lives))
    old = render(OLD_TARGET, switch_target_color=requested, switch_lives=unique)
    assert colors.target_color(lives, requested) == old


def test_target_color_picks_the_idle_colour_and_refuses_to_guess():
    assert colors.target_color(["blue", "blue"]) == "green"
    assert colors.target_color(["green"]) == "blue"
    assert colors.target_color(["blue", "green"]) == ""
    assert colors.target_color([]) == ""
    assert colors.target_color(["blue", "green"], "green") == "green"
    assert colors.target_color(["green"], None) == "blue"


@pytest.mark.parametrize("lives", REPORTS)
@pytest.mark.parametrize("target", ["", "blue", "green"])
@pytest.mark.parametrize("force", [False, True, "yes", "false"])
def test_switch_needed_matches_the_expression_it_replaced(render, lives, target, force):
    old = render(OLD_NEEDED, switch_target=target, switch_force=force, lives=lives)
    assert colors.switch_needed(lives, target, force) is old


def test_switch_needed_only_when_a_router_is_behind():
    assert colors.switch_needed(["blue", "green"], "green") is True
    assert colors.switch_needed(["green", "green"], "green") is False
    assert colors.switch_needed(["green"], "green", True) is True
    assert colors.switch_needed(["blue"], "", True) is False


@pytest.mark.parametrize("bad", ["blue", {"live": "blue"}, None, 3])
def test_a_report_that_is_not_a_list_is_refused(bad):
    with pytest.raises(AnsibleFilterError, match="list of the live colours"):
        colors.live_color(bad)
    with pytest.raises(AnsibleFilterError, match="list of the live colours"):
        colors.switch_needed(bad, "blue")


def test_bad_requested_colour_or_force_is_refused():
    with pytest.raises(AnsibleFilterError, match="requested colour must be a string"):
        colors.target_color(["blue"], 1)
    with pytest.raises(AnsibleFilterError, match="force must be a boolean"):
        colors.switch_needed(["blue"], "green", "maybe")
