# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the collection's playbooks the way AWX does: through ansible-runner.

The lab is the cheapest real target: a private nginx on loopback (LoopbackNginx) fronting
two colour backends (ColourBackend) on loopback ports, with connection local. One host,
localhost, is the load balancer and carries both colours side by side (it is in
bluegreen_lb, bluegreen_blue and bluegreen_green), so the playbooks' per-colour records
and health probes work without systemd: the tests write the records the environment role
would have written. Extra vars are passed as an AWX survey passes them (strings for
multiple-choice answers, integers for integer questions).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import ansible_runner
import pytest
import yaml

from tests.conftest import REPO, ansible_env
from tests.lib.backends import ColourBackend
from tests.lib.nginx import NGINX, LoopbackNginx
from tests.lib.ports import free_port

APP = "shop"
AWX_EXPORT = REPO / "awx" / "switchyard-bluegreen.json"


def job_templates() -> dict[str, dict]:
    """The job templates of the awx import file, by name."""
    return {jt["name"]: jt for jt in json.loads(AWX_EXPORT.read_text())["job_templates"]}


class SurveyError(ValueError):
    """An answer AWX itself would refuse at launch."""


def survey_extra_vars(template: dict, answers: dict) -> dict:
    """Extra vars of a launch, as AWX builds them: the template's extra_vars, then the survey.

    Answers are checked the way AWX checks them before it starts a job (required, type,
    min/max, choices); a question left unanswered takes its default, or is left out
    when it has none.
    """
    extra = yaml.safe_load(template.get("extra_vars") or "---") or {}
    spec = template.get("related", {}).get("survey_spec", {}).get("spec", []) if template["survey_enabled"] else []
    unknown = set(answers) - {question["variable"] for question in spec}
    if unknown:
        # ask_variables_on_launch is off in every template: AWX drops undeclared variables.
        raise SurveyError(f"not survey questions of {template['name']!r}: {sorted(unknown)}")
    for question in spec:
        name, kind = question["variable"], question["type"]
        if name not in answers:
            if question["required"] and question.get("default") in ("", None):
                raise SurveyError(f"{name} is required")
            if question.get("default") not in ("", None):
                extra[name] = question["default"]
            continue
        value = answers[name]
        if kind == "integer":
            if not isinstance(value, int) or not question["min"] <= value <= question["max"]:
                raise SurveyError(f"{name}: {value!r} is not an integer in [{question['min']}, {question['max']}]")
        elif kind == "multiplechoice":
            choices = question["choices"].split("\n")
            if value not in choices:
                raise SurveyError(f"{name}: {value!r} is not one of {choices}")
        elif kind in ("text", "textarea") and (
                not isinstance(value, str) or not question["min"] <= len(value) <= question["max"]):
            raise SurveyError(f"{name}: length of {value!r} is not in [{question['min']}, {question['max']}]")
        extra[name] = value
    return extra


@dataclass
class Job:
    """What AWX would show for one job: status, rc, events, and the set_stats artifacts."""

    status: str
    rc: int
    events: list = field(repr=False)
    artifacts: dict
    stdout: str = field(repr=False)

    def failed_tasks(self) -> list[dict]:
        """event_data of every failed task event (ignored failures excluded)."""
        return [e["event_data"] for e in self.events
                if e.get("event") == "runner_on_failed" and not e["event_data"].get("ignore_errors")]

    def failure_messages(self) -> list[str]:
        return [str(data.get("res", {}).get("msg", "")) for data in self.failed_tasks()]

    def task_names(self) -> list[str]:
        return [e["event_data"].get("task", "") for e in self.events if e.get("event") == "playbook_on_task_start"]

    def roles_run(self) -> set[str]:
        """Short names of the roles that ran at least one task (skipped tasks do not count).

        The playbooks import their roles statically, so the tasks carry the role's own task names.
        """
        return {e["event_data"]["role"].rsplit(".", 1)[-1] for e in self.events
                if e.get("event") in ("runner_on_ok", "runner_on_failed") and e["event_data"].get("role")}


class Lab:
    """Loopback nginx + blue/green backends + an AWX-like inventory and project."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.nginx = LoopbackNginx(tmp_path / "nginx")
        self.blue = ColourBackend("blue", "1.0.0").start()
        self.green = ColourBackend("green", "2.0.0").start()
        self.live_port = free_port()
        self.preview_port = free_port()
        self.state_dir = tmp_path / "state"
        self.state_dir.mkdir()
        self.inventory = tmp_path / "inventory.yml"
        self.inventory.write_text(yaml.safe_dump(self.inventory_data(), sort_keys=False))
        self.nginx.start()
        self.jobs = 0

    def inventory_data(self) -> dict:
        host = {"ansible_connection": "local", "bluegreen_address": "127.0.0.1"}
        return {"all": {
            "vars": {
                "bluegreen_app_name": APP,
                "bluegreen_router": "nginx",
                "bluegreen_ports": {"blue": self.blue.port, "green": self.green.port},
                "bluegreen_lb_port": self.live_port,
                "bluegreen_preview_port": self.preview_port,
                # Where the environment role keeps each colour's record.
                "environment_state_dir": str(self.state_dir),
            },
            "children": {
                "bluegreen_lb": {
                    "hosts": {"localhost": host},
                    "vars": {
                        # An nginx "the user already runs": the private loopback instance.
                        "nginx_install": False,
                        "nginx_binary": NGINX,
                        "nginx_conf": str(self.nginx.main_conf),
                        "nginx_config_dir": str(self.nginx.conf_d),
                        "nginx_listen_address": "127.0.0.1",
                        "switch_nginx_binary": NGINX,
                        "switch_nginx_conf": str(self.nginx.main_conf),
                        "switch_nginx_config_dir": str(self.nginx.conf_d),
                        "switch_verify_requests": 20,
                    },
                },
                "bluegreen_blue": {"hosts": {"localhost": {}}},
                "bluegreen_green": {"hosts": {"localhost": {}}},
            },
        }}

    @property
    def upstream_file(self) -> Path:
        return self.nginx.conf_d / f"bluegreen_{APP}.conf"

    def record(self, colour: str, version: str) -> None:
        """Write the record the environment role leaves after installing `version` on `colour`."""
        port = (self.blue if colour == "blue" else self.green).port
        (self.state_dir / f"{colour}.json").write_text(json.dumps({
            "app": APP, "color": colour, "version": version, "artifact": f"{APP}-{version}.tar.gz",
            "checksum": "", "port": port, "unit": f"{APP}@{colour}.service"}))

    def run(self, playbook: str, extravars: dict | None = None, diff: bool = False) -> Job:
        """One AWX-style job: ansible-runner, project = the checkout, a fresh private data dir."""
        self.jobs += 1
        private = self.tmp / f"job{self.jobs}"
        private.mkdir()
        env = ansible_env()
        # ansible-runner starts `ansible-playbook` from PATH: the one next to this interpreter.
        env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
        # Only what differs from the test's own environment (ansible-runner inherits the rest).
        envvars = {key: value for key, value in env.items() if os.environ.get(key) != value}
        runner = ansible_runner.run(
            private_data_dir=str(private),
            project_dir=str(REPO),
            playbook=playbook,
            inventory=str(self.inventory),
            extravars=extravars or {},
            envvars=envvars,
            quiet=True,
            timeout=300,
            cmdline="--diff" if diff else None,
        )
        events = list(runner.events)
        stats = [e for e in events if e.get("event") == "playbook_on_stats"]
        artifacts = stats[-1]["event_data"].get("artifact_data", {}) if stats else {}
        stdout = runner.stdout.read()
        return Job(status=runner.status, rc=runner.rc, events=events, artifacts=artifacts, stdout=stdout)

    def launch(self, template_name: str, answers: dict | None = None, workflow_vars: dict | None = None) -> Job:
        """Launch a job template of the awx import file with survey answers.

        workflow_vars: what a workflow passes on top (set_stats artifacts of earlier nodes).
        """
        template = job_templates()[template_name]
        extravars = survey_extra_vars(template, answers or {})
        extravars.update(workflow_vars or {})
        extravars.update({"awx_job_template_name": template_name, "awx_job_id": self.jobs + 1})
        return self.run(template["playbook"], extravars, diff=template["diff_mode"])

    def colours(self, port: int | None = None, count: int = 20) -> dict[str, int]:
        """Tally of X-App-Color over `count` requests through the live (or another) listener."""
        tally: dict[str, int] = {}
        for _request in range(count):
            with urllib.request.urlopen(f"http://127.0.0.1:{port or self.live_port}/", timeout=5) as response:
                colour = response.headers["X-App-Color"]
            tally[colour] = tally.get(colour, 0) + 1
        return tally

    def close(self) -> None:
        self.nginx.stop()
        self.blue.stop()
        self.green.stop()


@pytest.fixture
def lab(tmp_path):
    if shutil.which(NGINX) is None and not Path(NGINX).exists():
        pytest.skip(f"nginx is not installed ({NGINX})")
    box = Lab(tmp_path)
    yield box
    box.close()
