"""Shared fixtures: run the collection's modules for real, as Ansible would.

`run_module` executes a module in a fresh Python process with its arguments on
stdin (the way AnsibleModule receives them from Ansible's executor), so the test
exercises the real argument spec, check mode, diff and exit path. `run_playbook`
runs ansible-playbook itself with the collection on ANSIBLE_COLLECTIONS_PATH.
Both live in tests/lib/modules.py, which the benchmark uses too.
"""

from __future__ import annotations

import sys

import pytest

from tests.lib.modules import (
    BUILD,
    COLLECTION_LINK,
    COLLECTIONS,
    MODULE_PACKAGE,
    REPO,
    ModuleResult,
    ansible_env,
    execute_module,
    execute_playbook,
)

# The suites import these from tests.conftest.
__all__ = [
    "BUILD",
    "COLLECTIONS",
    "COLLECTION_LINK",
    "MODULE_PACKAGE",
    "REPO",
    "ModuleResult",
    "ansible_env",
    "execute_module",
    "execute_playbook",
]

# The session-wide moto_server fixture, shared by the Route53 integration and fault suites.
pytest_plugins = ["tests.lib.moto"]

# Make the collection importable (ansible_collections.switchyard.bluegreen.*) for unit tests.
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))


@pytest.fixture
def run_module():
    """run_module(name, args, check_mode=False, diff=False, env=None) -> ModuleResult."""
    return execute_module


@pytest.fixture
def run_playbook():
    return execute_playbook
