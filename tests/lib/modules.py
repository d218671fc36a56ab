"""Run the collection's modules and playbooks the way Ansible does, for tests and the benchmark.

A module runs in a fresh interpreter with its arguments as JSON on stdin (how AnsibleModule
receives them from Ansible's executor), so a caller exercises the real argument spec, check
mode, diff and exit path. Playbooks run through the venv's ansible-playbook with the
collection on ANSIBLE_COLLECTIONS_PATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("SWITCHYARD_BUILD", REPO / "build"))
COLLECTIONS = BUILD / "collections"
COLLECTION_LINK = COLLECTIONS / "ansible_collections" / "switchyard" / "bluegreen"
MODULE_PACKAGE = "ansible_collections.switchyard.bluegreen.plugins.modules"
VENV_BIN = Path(sys.executable).parent


def ansible_env(extra: dict | None = None) -> dict:
    """Environment for Ansible processes: the collection importable, quiet, this interpreter.

    The ANSIBLE_* settings are defaults (the caller's environment wins); `extra` wins over both.
    """
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


def module_command(name: str) -> list[str]:
    """The command that runs plugins/modules/<name>.py as __main__ (arguments come on stdin)."""
    return [sys.executable, "-c",
            f"import runpy; runpy.run_module('{MODULE_PACKAGE}.{name}', run_name='__main__', alter_sys=True)"]


def module_input(args: dict, *, check_mode: bool = False, diff: bool = False) -> str:
    """What Ansible's executor writes to a module's stdin."""
    payload = dict(args)
    payload["_ansible_check_mode"] = check_mode
    payload["_ansible_diff"] = diff
    return json.dumps({"ANSIBLE_MODULE_ARGS": payload})


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
    proc = subprocess.run(
        module_command(name), input=module_input(args, check_mode=check_mode, diff=diff),
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


def execute_playbook(playbook: str | Path, *, inventory: str | Path | None = None, extra_vars: dict | None = None,
                     args: list[str] | None = None, env: dict | None = None, timeout: float = 600):
    """Run ansible-playbook; returns the CompletedProcess (stdout+stderr text)."""
    cmd = [str(VENV_BIN / "ansible-playbook"), str(playbook)]
    if inventory is not None:
        cmd += ["-i", str(inventory)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += list(args or [])
    return subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(env), timeout=timeout,
                          check=False, cwd=str(REPO))
