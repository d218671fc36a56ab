# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One defaults layer per role, kept in step with meta/argument_specs.yml and the README.

Reads the role files only (no playbook runs): every default lives in defaults/ (a role may
split it into defaults/main/*.yml), every option there is in the argument spec with the same
literal default, every option is named in the README, and no task gives a role setting a
second default with `| default(...)`.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import REPO

ROLES = ["switch", "environment", "smoke_test", "haproxy"]
# Options documented in the argument spec on purpose without a role default: "not set" means something.
UNSET_ON_PURPOSE = {
    "switch": {"switch_failure_live_before", "switch_failure_previous_before", "switch_publish_version"},
}


def role_defaults(role: str) -> dict:
    split = REPO / "roles" / role / "defaults" / "main"
    files = sorted(split.glob("*.yml")) if split.is_dir() else [REPO / "roles" / role / "defaults" / "main.yml"]
    defaults: dict = {}
    for path in files:
        for name, value in (yaml.safe_load(path.read_text()) or {}).items():
            assert name not in defaults, f"{role}: {name} is defaulted twice ({path.name})"
            defaults[name] = value
    return defaults


def role_options(role: str) -> dict:
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    options: dict = {}
    for entry_point in specs.values():
        for name, spec in (entry_point.get("options") or {}).items():
            options.setdefault(name, spec)
    return options


def is_template(value) -> bool:
    return isinstance(value, str) and "{{" in value


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_a_documented_option_and_back(role):
    defaults, options = role_defaults(role), role_options(role)
    assert sorted(set(defaults) - set(options)) == [], "defaults without an argument spec entry"
    assert sorted(set(options) - set(defaults) - UNSET_ON_PURPOSE.get(role, set())) == [], "options without a default"


@pytest.mark.parametrize("role", ROLES)
def test_literal_defaults_match_the_argument_spec(role):
    defaults, options = role_defaults(role), role_options(role)
    mismatched = {
        name: (value, options[name].get("default"))
        for name, value in defaults.items()
        if not is_template(value) and "default" in options[name] and options[name]["default"] != value
    }
    assert mismatched == {}


@pytest.mark.parametrize("role", ROLES)
def test_the_readme_names_every_option(role):
    readme = (REPO / "roles" / role / "README.md").read_text()
    assert sorted(name for name in role_options(role) if f"`{name}`" not in readme and name not in readme) == []


@pytest.mark.parametrize("role", ROLES)
def test_tasks_use_the_settings_without_a_second_default(role):
    settings = set(role_defaults(role))
    pattern = re.compile(r"\b(" + "|".join(sorted(settings, key=len, reverse=True)) + r")\s*\|\s*default\(")
    found = []
    root = REPO / "roles" / role
    for path in sorted(root.glob("tasks/*.yml")) + sorted(root.glob("templates/*")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert found == []


def test_the_switch_role_splits_its_defaults_by_router():
    split = REPO / "roles" / "switch" / "defaults" / "main"
    assert {path.name for path in split.glob("*.yml")} >= {"nginx.yml", "haproxy.yml", "route53.yml"}
    for router in ("nginx", "haproxy", "route53"):
        names = yaml.safe_load((split / f"{router}.yml").read_text())
        assert names and all(name.startswith(f"switch_{router}_") for name in names), router
    assert not (REPO / "roles" / "switch" / "defaults" / "main.yml").exists()


@pytest.mark.parametrize("role", ROLES)
def test_every_option_states_its_default(role):
    """A literal default is in the spec's default; a computed one (bluegreen_x, else y) is in the description."""
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    silent = []
    for entry_point, spec in specs.items():
        for name, option in (spec.get("options") or {}).items():
            description = option.get("description", "")
            text = " ".join(description) if isinstance(description, list) else description
            if "default" not in option and "default" not in text.lower() and "not set" not in text.lower():
                silent.append(f"{entry_point}: {name}")
    assert silent == []
