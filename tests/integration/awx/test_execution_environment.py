# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""execution-environment.yml builds a valid ansible-builder context.

`ansible-builder build` needs the base image from a registry, which this machine cannot
reach, so the image itself is not built here. What can be checked is checked: the build
context ansible-builder writes, and the galaxy and introspection stages of the build run
on the host with the context's own requirements files and scripts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, ansible_env

VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def context(tmp_path_factory) -> Path:
    if not (VENV_BIN / "ansible-builder").exists():
        pytest.skip("ansible-builder is not installed in the test venv")
    ctx = tmp_path_factory.mktemp("ee") / "context"
    env = ansible_env({"SWITCHYARD_VENV": str(VENV_BIN.parent)})
    proc = subprocess.run([str(REPO / "ee" / "build-context.sh"), str(ctx)], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return ctx


def definition() -> dict:
    return yaml.safe_load((REPO / "execution-environment.yml").read_text())


def test_containerfile_installs_the_runtime_and_the_collection(context):
    containerfile = (context / "Containerfile").read_text()
    spec = definition()
    assert spec["version"] == 3
    assert f'ARG EE_BASE_IMAGE="{spec["images"]["base_image"]["name"]}"' in containerfile
    assert f'ARG PYCMD="{spec["dependencies"]["python_interpreter"]["python_path"]}"' in containerfile
    refs = next(line for line in containerfile.splitlines() if line.startswith("ARG ANSIBLE_INSTALL_REFS="))
    assert "ansible-core" in refs and "ansible-runner" in refs
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in containerfile
    assert "introspect.py introspect" in containerfile
    assert 'LABEL org.opencontainers.image.title="switchyard.bluegreen execution environment"' in containerfile


def test_requirement_files_are_copied_verbatim(context):
    build = context / "_build"
    assert (build / "requirements.yml").read_text() == (REPO / "ee" / "requirements.yml").read_text()
    assert (build / "requirements.txt").read_text() == (REPO / "ee" / "requirements.txt").read_text()
    assert (build / "bindep.txt").read_text() == (REPO / "ee" / "bindep.txt").read_text()
    for script in ("assemble", "introspect.py", "install-from-bindep", "check_galaxy", "entrypoint"):
        assert (build / "scripts" / script).is_file(), script


def test_the_collection_tarball_is_the_one_requirements_yml_names(context):
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    tarball = context / "_build" / "collections" / f"switchyard-bluegreen-{galaxy['version']}.tar.gz"
    assert tarball.is_file()
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements["collections"] == [{"name": f"collections/{tarball.name}", "type": "file"}]
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    for needed in ("MANIFEST.json", "meta/runtime.yml", "meta/execution-environment.yml", "meta/ee-requirements.txt",
                   "plugins/modules/route53_switch.py", "plugins/modules/nginx_upstream.py",
                   "roles/switch/tasks/main.yml", "playbooks/deploy.yml", "playbooks/rollback.yml"):
        assert needed in names, needed
    # build_ignore keeps the venv and build output out of the artifact.
    assert not any(name.startswith(("build/", ".git/")) for name in names)


def test_galaxy_and_introspection_stages_run_offline(context, tmp_path):
    """The two build stages that need no base image, run on the host from the context."""
    build = context / "_build"
    collections = tmp_path / "collections"
    env = ansible_env({"ANSIBLE_GALAXY_DISABLE_GPG_VERIFY": "1", "ANSIBLE_COLLECTIONS_PATH": str(collections)})
    proc = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "-r", "requirements.yml",
                           "--collections-path", str(collections), "--force"],
                          cwd=build, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = collections / "ansible_collections" / "switchyard" / "bluegreen"
    assert (installed / "MANIFEST.json").is_file()

    pip_out, bindep_out = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    proc = subprocess.run([sys.executable, str(build / "scripts" / "introspect.py"), "introspect", str(collections),
                           "--user-pip=requirements.txt", "--user-bindep=bindep.txt",
                           f"--write-pip={pip_out}", f"--write-bindep={bindep_out}"],
                          cwd=build, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pip_lines = pip_out.read_text().splitlines()
    bindep_lines = bindep_out.read_text().splitlines()
    # The collection's own needs come from its meta/execution-environment.yml ...
    assert any(line.startswith("boto3") and "switchyard.bluegreen" in line for line in pip_lines), pip_lines
    assert any(line.startswith("openssh-clients [platform:rpm]") for line in bindep_lines), bindep_lines
    # ... and the EE's own extras from ee/.
    assert any(line.startswith("jmespath") and "from collection user" in line for line in pip_lines), pip_lines
    assert any(line.startswith("sshpass") for line in bindep_lines), bindep_lines
