# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A catalogue of bad inputs across every module and role argument spec.

Each case runs the real module (or ansible-playbook for a role) against a live
environment: a running loopback nginx with a managed file, moto with a switched record,
a managed HAProxy file, a live HTTP backend. For each: the task fails with a result (no
traceback), the message names the option, and nothing changed: the managed file's
bytes and its directory, nginx's workers (no reload), every Route53 record set of the
zone, and the backend's request count.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest
import yaml

from tests.conftest import REPO, execute_playbook
from tests.lib.backends import ColourBackend
from tests.lib.moto import DUMMY_KEY, DUMMY_SECRET

from .conftest import FULL, make_lab, run_module_process, wait_for_single_generation

DROP = object()
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


class Case:
    def __init__(self, module: str, overrides: dict, option: str, why: str, bug: str | None = None):
        self.module = module
        self.overrides = overrides
        self.option = option
        self.why = why
        self.bug = bug

    @property
    def id(self) -> str:
        return f"{self.module}-{self.option}-{self.why}".replace(" ", "_")

    def args(self, base: dict) -> dict:
        args = dict(base)
        for key, value in self.overrides.items():
            if value is DROP:
                args.pop(key, None)
            else:
                args[key] = value
        return args


BG = {"blue": ["127.0.0.1:18081"], "green": ["127.0.0.1:18082"]}
R53_TARGETS = {"blue": {"values": ["192.0.2.10"]}, "green": {"values": ["192.0.2.20"]}}
ALIAS = {"alias": {"dns_name": "lb-1.us-east-1.elb.amazonaws.com", "hosted_zone_id": "Z35SXDOTRQ7X7K"}}
ALIAS_GREEN = {"alias": {"dns_name": "lb-2.us-east-1.elb.amazonaws.com", "hosted_zone_id": "Z35SXDOTRQ7X7K"}}

CASES = [
    # nginx_upstream
    Case("nginx_upstream", {"name": "my app"}, "name", "space in name"),
    Case("nginx_upstream", {"name": "a" * 65}, "name", "name longer than 64"),
    Case("nginx_upstream", {"pools": {"blue": ["127.0.0.1:18081"]}}, "pools", "one colour only"),
    Case("nginx_upstream", {"pools": {**BG, "green": ["127.0.0.1:80; return 500"]}}, "pools", "nginx syntax injection"),
    Case("nginx_upstream", {"pools": {**BG, "green": ["127.0.0.1"]}}, "pools", "server without port"),
    Case("nginx_upstream", {"pools": {**BG, "green": ["127.0.0.1:70000"]}}, "pools", "port out of range"),
    Case("nginx_upstream", {"pools": {"blue": ["127.0.0.1:18081"], "green": ["127.0.0.1:18081"]}}, "pools",
         "server in two colours"),
    Case("nginx_upstream", {"pools": {**BG, "green": "127.0.0.1:18082"}}, "pools", "pool is a string"),
    Case("nginx_upstream", {"active": "purple"}, "active", "colour not in pools"),
    Case("nginx_upstream", {"weights": {"blue": 50, "green": 50}}, "weights", "both active and weights"),
    Case("nginx_upstream", {"active": DROP}, "active", "neither active nor weights"),
    Case("nginx_upstream", {"active": DROP, "weights": {"blue": 0, "green": 0}}, "weights", "all weights zero"),
    Case("nginx_upstream", {"active": DROP, "weights": {"blue": 1001}}, "weights", "weight above 1000"),
    Case("nginx_upstream", {"active": DROP, "weights": {"red": 10}}, "weights", "weight for unknown colour"),
    Case("nginx_upstream", {"balance": "hash"}, "hash_key", "hash without hash_key"),
    Case("nginx_upstream", {"hash_key": "$remote_addr"}, "hash_key", "hash_key without balance hash"),
    Case("nginx_upstream", {"balance": "ip_hash", "idle_backup": True}, "idle_backup", "backup with ip_hash"),
    Case("nginx_upstream", {"balance": "fastest"}, "balance", "unknown balance method"),
    Case("nginx_upstream", {"server_options": {"weight": 5}}, "weight", "server_options weight"),
    Case("nginx_upstream", {"server_options": {"fail_timeout": "ten seconds"}}, "fail_timeout", "bad duration"),
    Case("nginx_upstream", {"server_options": {"max_fails": -1}}, "max_fails", "negative max_fails"),
    Case("nginx_upstream", {"keepalive": -1}, "keepalive", "negative keepalive"),
    Case("nginx_upstream", {"reload_timeout": -1}, "reload_timeout", "negative timeout"),
    Case("nginx_upstream", {"drain_timeout": "soon"}, "drain_timeout", "timeout not a number"),
    Case("nginx_upstream", {"reload_command": []}, "reload_command", "empty reload command"),
    Case("nginx_upstream", {"preview": True, "preview_color": "blue"}, "preview_color", "preview on active colour"),
    Case("nginx_upstream", {"preview_color": "green"}, "preview_color", "preview_color without preview"),
    Case("nginx_upstream", {"state": "gone"}, "state", "unknown state"),
    Case("nginx_upstream", {"colour": "green"}, "colour", "unknown option"),
    Case("nginx_upstream", {"nginx_binary": "/nonexistent/sbin/nginx"}, "nginx_binary", "binary does not exist"),
    Case("nginx_upstream", {"active": "green", "reload_command": ["/nonexistent/bin/reload-nginx"]}, "reload_command",
         "reload program does not exist"),
    # nginx_upstream_info
    Case("nginx_upstream_info", {"path": "/tmp/x.conf"}, "path", "name and path together"),
    Case("nginx_upstream_info", {"name": "a b"}, "name", "bad name"),
    Case("nginx_upstream_info", {"name": DROP, "conf_dir": "/nonexistent/conf.d"}, "conf_dir", "not a directory"),
    # route53_switch
    Case("route53_switch", {"active": DROP, "weights": {"blue": 256, "green": 0}}, "weights", "weight above 255"),
    Case("route53_switch", {"active": DROP, "weights": {"blue": 0, "green": 0}}, "weights", "all weights zero"),
    Case("route53_switch", {"active": DROP, "weights": {"blue": 100}}, "weights", "weight missing for a colour"),
    Case("route53_switch", {"active": "purple"}, "active", "colour not in targets"),
    Case("route53_switch", {"targets": {**R53_TARGETS, "green": {"values": ["999.1.1.1"]}}}, "targets",
         "bad IPv4 value"),
    Case("route53_switch", {"targets": {**R53_TARGETS, "green": {"values": ["192.0.2.20"], **ALIAS}}}, "targets",
         "alias and values together"),
    Case("route53_switch", {"targets": {**R53_TARGETS, "green": {"values": ["192.0.2.10"]}}}, "targets",
         "same target for two colours"),
    Case("route53_switch", {"targets": {"blue": ALIAS, "green": ALIAS_GREEN}, "ttl": 60},
         "ttl", "ttl with alias-only targets"),
    Case("route53_switch", {"ttl": -1}, "ttl", "negative ttl"),
    Case("route53_switch", {"record": "api.example.org"}, "record", "record outside the zone"),
    Case("route53_switch", {"routing": "simple", "active": DROP, "weights": {"blue": 1, "green": 1}}, "active",
         "simple routing without active"),
    Case("route53_switch", {"hosted_zone_id": "Z123"}, "zone", "zone and hosted_zone_id together"),
    Case("route53_switch", {"max_attempts": 0}, "max_attempts", "zero attempts"),
    Case("route53_switch", {"endpoint_url": "ftp://127.0.0.1:1"}, "endpoint_url", "not http"),
    Case("route53_switch", {"type": "MX"}, "type", "unsupported record type"),
    Case("route53_switch", {"wait_timeout": -5}, "wait_timeout", "negative wait_timeout"),
    Case("route53_switch", {"secret_key": DROP}, "secret_key", "access_key without secret_key"),
    Case("route53_switch", {"type": "CNAME", "routing": "simple",
                            "targets": {"blue": {"values": ["a.example.net", "b.example.net"]},
                                        "green": {"values": ["c.example.net"]}}}, "targets", "CNAME with two names"),
    # route53_switch_info
    Case("route53_switch_info", {"record": DROP}, "record", "record missing"),
    Case("route53_switch_info", {"type": "TXT"}, "type", "unsupported record type"),
    # http_check
    Case("http_check", {"urls": ["http://127.0.0.1:1/"]}, "url", "url and urls together"),
    Case("http_check", {"requests": 0}, "requests", "zero requests"),
    Case("http_check", {"concurrency": 0}, "concurrency", "zero concurrency"),
    Case("http_check", {"max_error_rate": 2}, "max_error_rate", "error rate above 1"),
    Case("http_check", {"expect_status": [999]}, "expect_status", "impossible status"),
    Case("http_check", {"url": "ftp://127.0.0.1/"}, "url", "not http"),
    Case("http_check", {"header_match": "glob"}, "header_match", "unknown match mode"),
    Case("http_check", {"expect_header_share": {"value": "green", "min": 0.5}}, "count_header",
         "share without count_header"),
    Case("http_check", {"timeout": 0}, "timeout", "zero timeout"),
    # haproxy_backend
    Case("haproxy_backend", {"name": "shop-1"}, "name", "dash in name"),
    Case("haproxy_backend", {"active": "purple"}, "active", "colour not in pools"),
    Case("haproxy_backend", {"active": DROP, "weights": {"blue": 257}}, "weights", "weight above 256"),
    Case("haproxy_backend", {"pools": {**BG, "green": ["127.0.0.1:18082 backup"]}}, "pools", "injection in server"),
    Case("haproxy_backend", {"old_state": "stopped"}, "old_state", "unknown old_state"),
    Case("haproxy_backend", {"server_options": {"weight": 3}}, "weight", "server_options weight"),
    Case("haproxy_backend", {"socket_timeout": 0}, "socket_timeout", "zero socket_timeout"),
    Case("haproxy_backend", {"state_file": "relative.state"}, "state_file", "relative state_file"),
    Case("haproxy_backend", {"haproxy_config": []}, "haproxy_config", "empty haproxy_config"),
    Case("haproxy_backend", {"active": "green", "haproxy_binary": "/nonexistent/sbin/haproxy"}, "haproxy_binary",
         "binary does not exist"),
    # haproxy_backend_info
    Case("haproxy_backend_info", {"path": "/tmp/x.cfg"}, "path", "name and path together"),
    Case("haproxy_backend_info", {"name": "shop;evil"}, "name", "bad name"),
    Case("haproxy_backend_info", {"name": DROP, "conf_dir": "/nonexistent/conf.d"}, "conf_dir", "not a directory"),
]


# --------------------------------------------------------------------------- environments


class NginxEnv:
    def __init__(self, lab):
        self.lab = lab

    def base(self, module: str) -> dict:
        if module == "nginx_upstream_info":
            return {"name": "app", **self.lab.nginx.module_args(), "conf_dir": str(self.lab.path.parent)}
        return self.lab.args(pools=BG, active="blue", drain_timeout=2)

    def snapshot(self):
        wait_for_single_generation(self.lab.nginx)
        return (self.lab.file_bytes(), self.lab.dir_listing(), self.lab.nginx.worker_pids())


class Route53Env:
    def __init__(self, moto_url: str):
        self.client = boto3.client("route53", endpoint_url=moto_url, region_name="us-east-1",
                                   aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_SECRET)
        self.zone_id = self.client.create_hosted_zone(
            Name="example.com", CallerReference="bad-inputs")["HostedZone"]["Id"].split("/")[-1]
        self.conn = {"endpoint_url": moto_url, "access_key": DUMMY_KEY, "secret_key": DUMMY_SECRET}
        first = run_module_process("route53_switch", self.base("route53_switch"))
        assert not first.failed, first

    def base(self, module: str) -> dict:
        base = {"zone": "example.com", "record": "api.example.com", "type": "A", **self.conn}
        if module == "route53_switch":
            base.update({"targets": R53_TARGETS, "active": "blue", "wait_timeout": 10})
        return base

    def snapshot(self):
        return self.client.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]


class HttpEnv:
    def __init__(self, backend: ColourBackend):
        self.backend = backend

    def base(self, _module: str) -> dict:
        return {"url": self.backend.url + "/", "requests": 5}

    def snapshot(self):
        return self.backend.requests


HAPROXY_MAIN = """\
global
    log stdout format raw local0
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
"""


class HaproxyEnv:
    def __init__(self, prefix: Path):
        self.conf_d = prefix / "conf.d"
        self.conf_d.mkdir(parents=True)
        self.main = prefix / "main.cfg"
        self.main.write_text(HAPROXY_MAIN)
        self.path = self.conf_d / "bluegreen_shop.cfg"
        first = run_module_process("haproxy_backend", self.base("haproxy_backend"))
        assert not first.failed, first

    def base(self, module: str) -> dict:
        if module == "haproxy_backend_info":
            return {"name": "shop", "conf_dir": str(self.conf_d), "runtime": False}
        return {"name": "shop", "pools": BG, "active": "blue", "path": str(self.path), "state_file": "",
                "apply": False, "haproxy_binary": HAPROXY, "haproxy_config": [str(self.main), str(self.conf_d)]}

    def snapshot(self):
        return (self.path.read_bytes(), sorted(p.name for p in self.conf_d.iterdir()))


@pytest.fixture(scope="module")
def envs(tmp_path_factory, moto_server):
    blue = ColourBackend("blue", "1.0.0").start()
    green = ColourBackend("green", "2.0.0").start()
    lab = make_lab(tmp_path_factory.mktemp("bad-nginx") / "nginx", blue, green)
    moto_server.reset()
    made = {"nginx_upstream": NginxEnv(lab), "route53_switch": Route53Env(moto_server.url), "http_check": HttpEnv(blue)}
    made["nginx_upstream_info"] = made["nginx_upstream"]
    made["route53_switch_info"] = made["route53_switch"]
    made["haproxy_backend"] = HaproxyEnv(tmp_path_factory.mktemp("bad-haproxy")) if Path(HAPROXY).exists() else None
    made["haproxy_backend_info"] = made["haproxy_backend"]
    yield made
    lab.nginx.stop()
    blue.stop()
    green.stop()


def test_catalogue_size():
    """The issue asks for at least 40 cases across all modules."""
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)
    expected_modules = {"nginx_upstream", "nginx_upstream_info", "route53_switch", "route53_switch_info",
                        "http_check", "haproxy_backend", "haproxy_backend_info"}
    assert {case.module for case in CASES} >= expected_modules


@pytest.mark.parametrize("case", [
    pytest.param(case, id=case.id, marks=[pytest.mark.xfail(strict=True, reason=case.bug)] if case.bug else [])
    for case in CASES])
def test_bad_input(case, envs, fault_log):
    env = envs[case.module]
    if env is None:
        pytest.skip(f"{HAPROXY} not installed")
    fault_log.set(f"bad input: {case.module}", f"{case.option}: {case.why}",
                  "fails naming the option; nothing changed")
    args = case.args(env.base(case.module))
    before = env.snapshot()
    result = run_module_process(case.module, args)
    after = env.snapshot()
    fault_log.runs = 1
    fault_log.measured["msg"] = result.get("msg")
    fault_log.measured["args"] = {k: v for k, v in case.overrides.items() if v is not DROP}
    fault_log.measured["unchanged"] = after == before
    assert not result.get("_no_json"), f"crashed without a result: {result.stderr[-1500:]}"
    assert result.failed, f"accepted: {json.dumps({k: v for k, v in result.items() if k != '_stderr'})[:1500]}"
    assert not result.get("changed"), result
    assert after == before, "something changed on disk, in nginx or in DNS"
    assert case.option in (result.get("msg") or ""), f"{case.option!r} not named in: {result.get('msg')}"


# --------------------------------------------------------------------------- role argument specs


SPEC_FILES = sorted(REPO.glob("roles/*/meta/argument_specs.yml"))


def load_spec(spec_file: Path):
    try:
        return yaml.safe_load(spec_file.read_text()) or {}
    except yaml.YAMLError:
        return None


@pytest.mark.parametrize("spec_file", SPEC_FILES, ids=[f.parent.parent.name for f in SPEC_FILES])
def test_role_argument_spec_parses(spec_file):
    try:
        yaml.safe_load(spec_file.read_text())
    except yaml.YAMLError as exc:
        pytest.fail(f"{spec_file.relative_to(REPO)} is not valid YAML: {exc}")


def role_cases() -> list[tuple[str, str, str, object]]:
    """(role, variable, why, bad value or DROP) from every roles/*/meta/argument_specs.yml that parses."""
    cases = []
    for spec_file in SPEC_FILES:
        role = spec_file.parent.parent.name
        loaded = load_spec(spec_file)
        if loaded is None:
            continue
        specs = loaded.get("argument_specs", {})
        options = (specs.get("main") or {}).get("options", {})
        for name, option in sorted(options.items()):
            kind = option.get("type", "str")
            if option.get("choices"):
                cases.append((role, name, "value not in choices", "not-a-valid-choice"))
            elif kind in ("int", "float"):
                cases.append((role, name, f"not a {kind}", "not-a-number"))
            elif kind == "bool":
                cases.append((role, name, "not a bool", "maybe"))
            elif kind in ("list", "dict"):
                cases.append((role, name, f"not a {kind}", 12345 if kind == "dict" else {"a": 1}))
        for name, option in sorted(options.items()):
            if option.get("required"):
                cases.append((role, name, "required variable missing", DROP))
    return cases


def required_vars(role: str) -> dict:
    """A placeholder of the right type for every required variable of the role (so only one is bad)."""
    spec = load_spec(REPO / "roles" / role / "meta" / "argument_specs.yml")
    values = {}
    placeholder = {"str": "x", "int": 1, "float": 1.0, "bool": True, "list": [], "dict": {}, "path": "/tmp/x"}
    for name, option in spec["argument_specs"]["main"].get("options", {}).items():
        if option.get("required"):
            values[name] = option["choices"][0] if option.get("choices") else placeholder.get(option.get("type", "str"))
    return values


def sample(cases: list) -> list:
    """Reduced counts: per role one case of each kind of fault; full counts: every case."""
    if FULL:
        return cases
    seen, chosen = set(), []
    for case in cases:
        key = (case[0], case[2].split(" ")[0] if case[3] is not DROP else "required")
        if key not in seen:
            seen.add(key)
            chosen.append(case)
    return chosen


ROLE_CASES = sample(role_cases())


def role_play(role: str, cases: list, out: Path) -> list:
    """One play: per case, include the role with one bad variable inside block/rescue and record what happened."""
    tasks = []
    for index, (_role, variable, _why, value) in enumerate(cases):
        role_vars = required_vars(role)
        if value is DROP:
            role_vars.pop(variable, None)
        else:
            role_vars[variable] = value
        tasks.append({
            "name": f"Case {index}: {variable}",
            "block": [
                {"name": "Include the role with one bad variable",
                 "ansible.builtin.include_role": {"name": f"switchyard.bluegreen.{role}"}, "vars": role_vars},
                {"name": "Record that the role ran", "ansible.builtin.set_fact": {
                    "case_results": f"{{{{ case_results + [{{'case': {index}, 'failed': false, 'msg': ''}}] }}}}"}},
            ],
            "rescue": [
                {"name": "Record the failure", "ansible.builtin.set_fact": {
                    "case_results": f"{{{{ case_results + [{{'case': {index}, 'failed': true, "
                                    "'task': ansible_failed_task.name | default(''), "
                                    "'msg': ansible_failed_result.msg | default('')}] }}"}},
            ],
        })
    tasks.append({"name": "Write the results", "ansible.builtin.copy": {
        "content": "{{ case_results | to_json }}", "dest": str(out), "mode": "0644"}, "check_mode": False})
    return [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"case_results": []}, "tasks": tasks}]


@pytest.fixture(scope="module")
def role_results(tmp_path_factory):
    """Role -> list of per-case results, from one ansible-playbook run per role (check mode)."""
    cache = {}

    def get(role: str) -> list:
        if role not in cache:
            cases = [case for case in ROLE_CASES if case[0] == role]
            folder = tmp_path_factory.mktemp(f"role-{role}")
            out = folder / "results.json"
            playbook = folder / "play.yml"
            playbook.write_text(yaml.safe_dump(role_play(role, cases, out), sort_keys=False))
            # Check mode: should validation let a value through, the role's tasks change nothing here.
            proc = execute_playbook(playbook, inventory="localhost,", args=["--check"])
            assert out.exists(), (proc.stdout + proc.stderr)[-3000:]
            cache[role] = json.loads(out.read_text())
        return cache[role]

    return get


@pytest.mark.skipif(not ROLE_CASES, reason="no role has a parsable meta/argument_specs.yml yet")
@pytest.mark.parametrize("case", ROLE_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}".replace(" ", "_") for c in ROLE_CASES])
def test_role_argument_spec(case, role_results, fault_log):
    role, variable, why, value = case
    fault_log.set(f"bad input: role {role}", f"{variable}: {why}",
                  "fails naming the variable (argument spec validation or the role's own guard)")
    index = [other for other in ROLE_CASES if other[0] == role].index(case)
    result = next(r for r in role_results(role) if r["case"] == index)
    fault_log.runs = 1
    fault_log.measured["msg"] = (result.get("msg") or "")[:500]
    fault_log.measured["args"] = {variable: None if value is DROP else value}
    fault_log.measured["failed_task"] = result.get("task")
    assert result["failed"], f"the role ran with {variable}={value!r}"
    # Either Ansible's argument spec validation or the role's own first guard (for variables whose
    # defaults satisfy "required"), as long as the message names the variable.
    assert variable in result["msg"], result
