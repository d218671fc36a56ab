# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The migrate role's defaults, argument spec and README in step (the checks of tests/integration/roles)."""

from __future__ import annotations

from tests.integration.roles import test_role_interfaces as interfaces


def test_every_default_is_a_documented_option_and_back():
    interfaces.test_every_default_is_a_documented_option_and_back("migrate")


def test_literal_defaults_match_the_argument_spec():
    interfaces.test_literal_defaults_match_the_argument_spec("migrate")


def test_the_readme_names_every_option():
    interfaces.test_the_readme_names_every_option("migrate")


def test_tasks_use_the_settings_without_a_second_default():
    interfaces.test_tasks_use_the_settings_without_a_second_default("migrate")


def test_every_option_states_its_default():
    interfaces.test_every_option_states_its_default("migrate")
