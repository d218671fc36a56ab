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
WORKFLOWS = {wf["name"]: wf for wf in DATA["workflow_job_templates"]}
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
        "bluegreen | contract": "playbooks/contract.yml",
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
    assert set(questions(TEMPLATES["bluegreen | contract"])) == {"bluegreen_migrate_contract", "bluegreen_version",
                                                                 "bluegreen_migrate_timeout"}
    # Two jobs switching the same routers (or migrating the same database) would race.
    for name in ("bluegreen | deploy", "bluegreen | switch", "bluegreen | rollback", "bluegreen | contract"):
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
    workflow = WORKFLOWS["bluegreen | switch with approvals"]
    variables = {q["variable"] for q in workflow["related"]["survey_spec"]["spec"]}
    assert "bluegreen_target_color" not in variables
    assert variables <= set(questions(TEMPLATES["bluegreen | switch"]))


def workflow_nodes(workflow: dict) -> dict:
    return {node["identifier"]: node for node in workflow["related"]["workflow_nodes"]}


def node_targets(nodes: dict, identifier: str, kind: str) -> list[str]:
    return [key["identifier"] for key in nodes[identifier]["related"][f"{kind}_nodes"]]


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_workflow_nodes_reference_real_nodes_templates_and_approvals(name):
    workflow = WORKFLOWS[name]
    nodes = workflow_nodes(workflow)
    assert workflow["natural_key"] == {"organization": workflow["organization"], "name": name,
                                       "type": "workflow_job_template"}
    for identifier, node in nodes.items():
        assert node["natural_key"]["identifier"] == identifier
        assert node["natural_key"]["workflow_job_template"] == workflow["natural_key"]
        for kind in ("success", "failure", "always"):
            assert set(node_targets(nodes, identifier, kind)) <= set(nodes)
            for key in node["related"][f"{kind}_nodes"]:
                assert key["workflow_job_template"] == workflow["natural_key"]
        if node["unified_job_template"] is None:
            approval = node["related"]["create_approval_template"]
            assert approval["name"] and approval["timeout"] > 0
        else:
            assert node["unified_job_template"]["name"] in TEMPLATES


def test_workflow_nodes_form_the_documented_graph():
    nodes = workflow_nodes(WORKFLOWS["bluegreen | switch with approvals"])

    def targets(identifier, kind):
        return node_targets(nodes, identifier, kind)

    assert targets("status-before", "success") == ["approve-switch"]
    assert targets("approve-switch", "success") == ["switch"]
    assert targets("switch", "success") == ["keep-new-colour"]
    # The rollback runs only when the switch succeeded and the keep-approval was denied or timed out.
    assert targets("keep-new-colour", "failure") == ["rollback"]
    assert targets("switch", "failure") == ["status-after"]
    assert "rollback" not in targets("switch", "failure")


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


def test_deploy_survey_offers_the_expand_migration_and_leaves_it_out_unanswered():
    deploy = TEMPLATES["bluegreen | deploy"]
    expand = questions(deploy)["bluegreen_migrate_expand"]
    assert expand["type"] == "text" and expand["required"] is False and expand["default"] == ""
    # An answer must be a command: the migrate role refuses an empty one.
    assert expand["min"] >= 1
    timeout = questions(deploy)["bluegreen_migrate_timeout"]
    assert timeout["type"] == "integer" and timeout["min"] >= 1
    # The survey's default is the role's own: answering nothing changes nothing.
    role_default = re.search(r"bluegreen_migrate_timeout \| default\((\d+)\)",
                             (REPO / "roles" / "migrate" / "defaults" / "main.yml").read_text())
    assert timeout["default"] == int(role_default.group(1))
    base = {"bluegreen_version": "2.0.0", "bluegreen_artifact": "/a.tar.gz"}
    # deploy.yml runs the expand step when bluegreen_migrate_expand is defined: unanswered, it must be absent.
    assert "bluegreen_migrate_expand" not in survey_extra_vars(deploy, base)
    extra = survey_extra_vars(deploy, {**base, "bluegreen_migrate_expand": "psql -f db/expand.sql"})
    assert extra["bluegreen_migrate_expand"] == "psql -f db/expand.sql"
    with pytest.raises(SurveyError, match="bluegreen_migrate_expand"):
        survey_extra_vars(deploy, {**base, "bluegreen_migrate_expand": ""})
    # The contract command is not a deploy question: it runs only through the contract job, after an approval.
    assert "bluegreen_migrate_contract" not in questions(deploy)


def test_contract_template_requires_its_command():
    contract = TEMPLATES["bluegreen | contract"]
    assert contract["survey_enabled"] is True
    with pytest.raises(SurveyError, match="bluegreen_migrate_contract is required"):
        survey_extra_vars(contract, {})
    extra = survey_extra_vars(contract, {"bluegreen_migrate_contract": "psql -f db/contract.sql"})
    # An unanswered release is left out: contract.yml then takes the live colour's release.
    assert extra == {"bluegreen_migrate_contract": "psql -f db/contract.sql", "bluegreen_migrate_timeout": 600}


def test_contract_workflow_puts_an_approval_before_the_contract():
    workflow = WORKFLOWS["bluegreen | contract with approval"]
    nodes = workflow_nodes(workflow)
    parents = {target: identifier for identifier in nodes for kind in ("success", "failure", "always")
               for target in node_targets(nodes, identifier, kind)}
    contract_nodes = [i for i, n in nodes.items()
                      if (n["unified_job_template"] or {}).get("name") == "bluegreen | contract"]
    assert contract_nodes == ["contract"]
    # The only way into the contract node is the approval's success branch.
    approval = parents["contract"]
    assert nodes[approval]["unified_job_template"] is None
    assert node_targets(nodes, approval, "success") == ["contract"]
    for identifier in nodes:
        assert "contract" not in node_targets(nodes, identifier, "failure") + node_targets(nodes, identifier, "always")
    assert node_targets(nodes, "status-before", "success") == [approval]
    assert node_targets(nodes, "contract", "always") == ["status-after"]
    # Its survey is the contract template's: the command reaches the contract node as a workflow variable.
    variables = {q["variable"] for q in workflow["related"]["survey_spec"]["spec"]}
    assert variables == set(questions(TEMPLATES["bluegreen | contract"]))
