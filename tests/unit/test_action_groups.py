# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Each module's documented action groups are exactly the groups meta/runtime.yml puts it in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RUNTIME = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")


@pytest.fixture(scope="module")
def docs():
    # ansible-doc resolves the doc fragments the way users see them (collection loader included).
    ansible_doc = Path(sys.executable).parent / "ansible-doc"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"))
    names = [f"switchyard.bluegreen.{module}" for module in MODULES]
    out = subprocess.run([str(ansible_doc), "-t", "module", "--json", *names],
                         capture_output=True, text=True, env=env, check=True).stdout
    return {name.rsplit(".", 1)[1]: entry["doc"] for name, entry in json.loads(out).items()}


def groups_holding(module):
    return sorted(f"switchyard.bluegreen.{group}" for group, members in RUNTIME["action_groups"].items()
                  if module in members)


@pytest.mark.parametrize("module", MODULES)
def test_documented_membership_matches_runtime(docs, module):
    membership = sorted(docs[module]["attributes"]["action_group"]["membership"])
    assert membership == groups_holding(module)


def test_every_module_is_in_the_bluegreen_group():
    assert sorted(RUNTIME["action_groups"]["bluegreen"]) == MODULES
