"""Shared fixtures: run the collection's modules for real, as Ansible would.

`run_module` executes a module in a fresh Python process with its arguments on
stdin (the way AnsibleModule receives them from Ansible's executor), so the test
exercises the real argument spec, check mode, diff and exit path. `run_playbook`
runs ansible-playbook itself with the collection on ANSIBLE_COLLECTIONS_PATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("SWITCHYARD_BUILD", REPO / "build"))
COLLECTIONS = BUILD / "collections"
COLLECTION_LINK = COLLECTIONS / "ansible_collections" / "switchyard" / "bluegreen"
MODULE_PACKAGE = "ansible_collections.switchyard.bluegreen.plugins.modules"

# The session-wide moto_server fixture, shared by the Route53 integration and fault suites.
pytest_plugins = ["tests.lib.moto"]

# Make the collection importable (ansible_collections.switchyard.bluegreen.*) for unit tests.
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))


def ansible_env(extra: dict | None = None) -> dict:
    """Environment for Ansible processes started by tests."""
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(COLLECTIONS)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(COLLECTIONS), env.get("PYTHONPATH", "")) if p)
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    env.setdefault("ANSIBLE_LOCALHOST_WARNING", "False")
    env.setdefault("ANSIBLE_INVENTORY_UNPARSED_WARNING", "False")
    env.setdefault("ANSIBLE_PYTHON_INTERPRETER", sys.executable)
    if extra:
        env.update(extra)
    return env


class ModuleResult(dict):
    """A module's JSON result, plus the raw process output for assertions on failures."""

    returncode: int = 0
    stderr: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.get("failed"))


def execute_module(name: str, args: dict, *, check_mode: bool = False, diff: bool = False,
                   env: dict | None = None, timeout: float = 120) -> ModuleResult:
    """Run plugins/modules/<name>.py in a new interpreter and return its parsed result."""
    payload = dict(args)
    payload["_ansible_check_mode"] = check_mode
    payload["_ansible_diff"] = diff
    proc = subprocess.run(
        [sys.executable, "-c",
         f"import runpy; runpy.run_module('{MODULE_PACKAGE}.{name}', run_name='__main__', alter_sys=True)"],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": payload}),
        capture_output=True, text=True, env=ansible_env(env), timeout=timeout, check=False,
    )
    try:
        result = ModuleResult(json.loads(proc.stdout))
    except json.JSONDecodeError:
        raise AssertionError(
            f"module {name} printed no JSON (rc={proc.returncode})\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        ) from None
    result.returncode = proc.returncode
    result.stderr = proc.stderr
    return result


@pytest.fixture
def run_module():
    """run_module(name, args, check_mode=False, diff=False, env=None) -> ModuleResult."""
    return execute_module


def execute_playbook(playbook: str | Path, *, inventory: str | Path | None = None, extra_vars: dict | None = None,
                     args: list[str] | None = None, env: dict | None = None, timeout: float = 600):
    """Run ansible-playbook; returns the CompletedProcess (stdout+stderr text)."""
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), str(playbook)]
    if inventory is not None:
        cmd += ["-i", str(inventory)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += list(args or [])
    return subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(env), timeout=timeout,
                          check=False, cwd=str(REPO))


@pytest.fixture
def run_playbook():
    return execute_playbook
