# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""awx/switchyard-bluegreen.json: importable shape, and surveys that match the roles.

AWX is not available here, so these checks hold the file to the shape `awx export`
writes (natural keys, related survey_spec and workflow nodes) and to the roles'
argument specs and playbooks, so a survey cannot offer a value the roles refuse.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.awx.conftest import AWX_EXPORT, SurveyError, survey_extra_vars

DATA = json.loads(AWX_EXPORT.read_text())
TEMPLATES = {jt["name"]: jt for jt in DATA["job_templates"]}
QUESTION_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def argument_options(role: str) -> dict:
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return specs["main"]["options"]


def questions(template: dict) -> dict:
    return {q["variable"]: q for q in template.get("related", {}).get("survey_spec", {}).get("spec", [])}


def test_one_template_per_playbook_with_the_expected_surveys():
    assert {name: jt["playbook"] for name, jt in TEMPLATES.items()} == {
        "bluegreen | deploy": "playbooks/deploy.yml",
        "bluegreen | switch": "playbooks/switch.yml",
        "bluegreen | rollback": "playbooks/rollback.yml",
        "bluegreen | status": "playbooks/status.yml",
    }
    for jt in TEMPLATES.values():
        assert (REPO / jt["playbook"]).is_file()
        assert jt["natural_key"] == {"organization": jt["project"]["organization"], "name": jt["name"],
                                     "type": "job_template"}
        assert jt["survey_enabled"] == bool(questions(jt))
        # Extra vars can only come from the survey: nothing else reaches the playbooks at launch.
        assert not jt["ask_variables_on_launch"] and not jt["ask_limit_on_launch"]
    assert set(questions(TEMPLATES["bluegreen | deploy"])) >= {"bluegreen_version", "bluegreen_artifact",
                                                               "bluegreen_auto_rollback", "bluegreen_retire"}
    assert set(questions(TEMPLATES["bluegreen | switch"])) >= {"bluegreen_target_color", "bluegreen_auto_rollback",
                                                               "bluegreen_steps", "bluegreen_steps_max_error_rate",
                                                               "bluegreen_steps_min_requests"}
    # Two jobs switching the same routers would race.
    for name in ("bluegreen | deploy", "bluegreen | switch", "bluegreen | rollback"):
        assert TEMPLATES[name]["allow_simultaneous"] is False


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_question_is_well_formed(name):
    for variable, question in questions(TEMPLATES[name]).items():
        assert question["type"] in QUESTION_TYPES, variable
        assert question["question_name"] and question["question_description"], variable
        assert re.fullmatch(r"[a-z][a-z0-9_]*", variable), variable
        default = question.get("default")
        if question["type"] == "multiplechoice":
            choices = question["choices"].split("\n")
            assert len(choices) == len(set(choices)) >= 2, variable
            assert default == "" or default in choices, variable
        if question["type"] == "integer":
            assert question["min"] <= question["max"]
            assert default == "" or question["min"] <= default <= question["max"], variable


def test_colour_and_router_choices_are_what_the_switch_role_accepts():
    switch = argument_options("switch")
    allowed = set(switch["switch_target_color"]["choices"]) - {""}
    for jt in [*TEMPLATES.values(), *DATA["workflow_job_templates"]]:
        spec = jt.get("related", {}).get("survey_spec", {}).get("spec", [])
        for question in spec:
            if question["variable"] == "bluegreen_target_color":
                assert set(question["choices"].split("\n")) == allowed
                # Not required: no answer means "the idle colour".
                assert question["required"] is False and question["default"] == ""


def test_auto_rollback_answer_becomes_the_switch_roles_boolean():
    """Survey answers are strings; the template maps the choice onto switch_rollback_on_failure with | bool."""
    assert argument_options("switch")["switch_rollback_on_failure"]["type"] == "bool"
    for name in ("bluegreen | deploy", "bluegreen | switch"):
        extra = yaml.safe_load(TEMPLATES[name]["extra_vars"])
        assert extra == {"switch_rollback_on_failure": "{{ bluegreen_auto_rollback | default('true') | bool }}"}
        assert questions(TEMPLATES[name])["bluegreen_auto_rollback"]["choices"].split("\n") == ["true", "false"]


def test_every_survey_variable_is_read_by_the_playbooks_or_roles():
    sources = "\n".join(path.read_text() for pattern in ("playbooks/*.yml", "roles/*/defaults/main.yml",
                                                         "roles/*/defaults/main/*.yml", "roles/*/tasks/*.yml")
                        for path in REPO.glob(pattern))
    for jt in TEMPLATES.values():
        mapped = yaml.safe_load(jt["extra_vars"] or "---") or {}
        for variable in questions(jt):
            # Either a playbook/role reads it, or the template's extra_vars map it onto a role variable.
            assert variable in sources or any(variable in str(value) for value in mapped.values()), variable


def test_the_survey_emulation_refuses_what_awx_refuses():
    deploy = TEMPLATES["bluegreen | deploy"]
    with pytest.raises(SurveyError, match="bluegreen_version is required"):
        survey_extra_vars(deploy, {"bluegreen_artifact": "/a.tar.gz"})
    with pytest.raises(SurveyError, match="bluegreen_retire"):
        survey_extra_vars(deploy, {"bluegreen_version": "1", "bluegreen_artifact": "/a", "bluegreen_retire": "yes"})
    with pytest.raises(SurveyError, match="bluegreen_retire_delay"):
        survey_extra_vars(deploy, {"bluegreen_version": "1", "bluegreen_artifact": "/a", "bluegreen_retire_delay": -1})
    with pytest.raises(SurveyError, match="not survey questions"):
        survey_extra_vars(deploy, {"bluegreen_version": "1", "bluegreen_artifact": "/a", "switch_force": True})
    extra = survey_extra_vars(deploy, {"bluegreen_version": "2.0.0", "bluegreen_artifact": "/a.tar.gz"})
    # Defaults fill the unanswered questions, and the template's own extra_vars stay.
    assert extra["bluegreen_auto_rollback"] == "true" and extra["bluegreen_retire"] == "false"
    assert "switch_rollback_on_failure" in extra


def test_workflow_survey_does_not_steer_the_rollback_node():
    """Workflow variables reach every node: a target colour there would make the rollback node switch to it."""
    (workflow,) = DATA["workflow_job_templates"]
    variables = {q["variable"] for q in workflow["related"]["survey_spec"]["spec"]}
    assert "bluegreen_target_color" not in variables
    assert variables <= set(questions(TEMPLATES["bluegreen | switch"]))


def test_workflow_nodes_form_the_documented_graph():
    (workflow,) = DATA["workflow_job_templates"]
    nodes = {node["identifier"]: node for node in workflow["related"]["workflow_nodes"]}

    def targets(identifier, kind):
        return [key["identifier"] for key in nodes[identifier]["related"][f"{kind}_nodes"]]

    assert targets("status-before", "success") == ["approve-switch"]
    assert targets("approve-switch", "success") == ["switch"]
    assert targets("switch", "success") == ["keep-new-colour"]
    # The rollback runs only when the switch succeeded and the keep-approval was denied or timed out.
    assert targets("keep-new-colour", "failure") == ["rollback"]
    assert targets("switch", "failure") == ["status-after"]
    assert "rollback" not in targets("switch", "failure")
    for identifier, node in nodes.items():
        assert node["natural_key"]["identifier"] == identifier
        assert node["natural_key"]["workflow_job_template"] == workflow["natural_key"]
        for kind in ("success", "failure", "always"):
            assert set(targets(identifier, kind)) <= set(nodes)
        if node["unified_job_template"] is None:
            approval = node["related"]["create_approval_template"]
            assert approval["name"] and approval["timeout"] > 0
        else:
            assert node["unified_job_template"]["name"] in TEMPLATES


def test_templates_reference_the_exported_project_inventory_and_ee():
    projects = {p["name"] for p in DATA["projects"]}
    inventories = {i["name"] for i in DATA["inventory"]}
    environments = {e["name"] for e in DATA["execution_environments"]}
    for jt in TEMPLATES.values():
        assert jt["project"]["name"] in projects
        assert jt["inventory"]["name"] in inventories
        assert jt["execution_environment"]["name"] in environments
    groups = {g["name"] for g in DATA["inventory"][0]["related"]["groups"]}
    assert groups == {"bluegreen_lb", "bluegreen_blue", "bluegreen_green"}


def test_steps_survey_default_is_one_step_and_its_example_parses():
    """The survey's text form is what the progressive_steps filter reads; empty keeps the one-step switch."""
    from ansible_collections.switchyard.bluegreen.plugins.filter.progressive import progressive_steps  # noqa: PLC0415

    question = questions(TEMPLATES["bluegreen | switch"])["bluegreen_steps"]
    assert question["type"] == "text" and question["default"] == "" and question["required"] is False
    example = re.search(r"e\.g\. ([0-9:, ]+[0-9])", question["question_description"]).group(1)
    assert [step["weight"] for step in progressive_steps(example, "nginx")] == [5, 25, 100]
