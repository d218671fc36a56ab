# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""DNS peer: amazon.aws.route53 (weighted shift as its docs show, one record set per task) vs route53_switch.

Both run through ansible-playbook against moto_server on 127.0.0.1, behind a small counting proxy
(also on 127.0.0.1) that logs every API call and, right after each ChangeResourceRecordSets, reads
the record's weights straight from moto (not counted): the states a resolver could be handed
between two calls. Between the counting proxy and moto sits the strict Route53 double
(tests/lib/route53_double.py), which applies each batch the way AWS does (exact-match DELETE,
all or nothing); moto alone refuses a CREATE identical to one in its change journal, which
route53_switch's guarded DELETE + CREATE batches repeat on every second switch.

The proxy can also answer the way AWS does for alias targets (``aws_alias_form``): AWS returns
an alias DNSName lowercased with a trailing dot, whatever was sent; moto returns it as sent.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import methods

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from tests.lib.ports import free_port, wait_for_port  # noqa: E402
from tests.lib.route53_double import StrictRoute53  # noqa: E402

ZONE = "bench.example"
RECORD = f"app.{ZONE}"
ALIAS_RECORD = f"www.{ZONE}"
VALUES = {"blue": "192.0.2.10", "green": "192.0.2.20"}
ALIASES = {"blue": "blue-lb-1.us-east-1.elb.amazonaws.com", "green": "green-lb-2.us-east-1.elb.amazonaws.com"}
ALIAS_ZONE = "Z35SXDOTRQ7X7K"
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def action_of(method, path):
    """Route53 REST path to the API action name."""
    parts = [p for p in path.split("?")[0].split("/") if p][1:]  # drop the API version
    if parts[:1] == ["hostedzonesbyname"]:
        return "ListHostedZonesByName"
    if parts[:1] == ["change"]:
        return "GetChange"
    if parts[:1] == ["hostedzone"]:
        if len(parts) == 1:
            return "ListHostedZones" if method == "GET" else "CreateHostedZone"
        if len(parts) == 2:
            return "GetHostedZone"
        if parts[2] == "rrset":
            return "ChangeResourceRecordSets" if method == "POST" else "ListResourceRecordSets"
    return f"{method} {'/'.join(parts)}"


class CountingProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, moto_port, snapshot):
        self.moto_port = moto_port
        self.snapshot = snapshot
        self.calls = []
        self.states = []
        self.aws_alias_form = False
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), ProxyHandler)

    def take(self):
        with self.lock:
            calls, states = self.calls, self.states
            self.calls, self.states = [], []
        return calls, states


def aws_alias_form(body):
    """Rewrite alias DNSName values as AWS returns them: lowercase, with a trailing dot."""
    import re  # noqa: PLC0415

    def fix(match):
        name = match.group(2).lower()
        return match.group(1) + (name if name.endswith(b".") else name + b".") + match.group(3)

    return re.sub(rb"(<DNSName>)([^<]*)(</DNSName>)", fix, body)


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _forward(self):
        server = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        upstream = http.client.HTTPConnection("127.0.0.1", server.moto_port, timeout=30)
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        action = action_of(self.command, self.path)
        if server.aws_alias_form and action == "ListResourceRecordSets":
            data = aws_alias_form(data)
        with server.lock:
            server.calls.append(action)
        if action == "ChangeResourceRecordSets" and response.status < 300:
            state = server.snapshot()
            with server.lock:
                server.states.append(state)
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = do_DELETE = _forward  # noqa: N815


def start_moto(port):
    proc = subprocess.Popen([str(methods.VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, timeout=30)
    return proc


def weights_of(client, zone_id):
    found = {}
    sets = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    for record_set in sets:
        if record_set["Name"].rstrip(".") == RECORD and "SetIdentifier" in record_set:
            found[record_set["SetIdentifier"]] = record_set.get("Weight")
    return found


def classify_states(states):
    """Intermediate states between the calls of one switch (the last state is the result)."""
    middle = states[:-1]
    return {
        "both_zero": any(s.get("blue") == 0 and s.get("green") == 0 for s in middle),
        "both_full": any((s.get("blue") or 0) > 0 and (s.get("green") or 0) > 0 for s in middle),
        "states": states,
    }


def run(workdir, count, log):
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    moto_port = free_port()
    moto = start_moto(moto_port)
    direct = boto3.client("route53", endpoint_url=f"http://127.0.0.1:{moto_port}", **CREDS)
    zone_id = direct.create_hosted_zone(Name=ZONE, CallerReference=str(time.time()))["HostedZone"]["Id"]
    zone_id = zone_id.split("/")[-1]
    direct.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": RECORD, "Type": "A", "SetIdentifier": colour,
                                                   "Weight": 100 if colour == "blue" else 0, "TTL": 60,
                                                   "ResourceRecords": [{"Value": value}]}}
        for colour, value in VALUES.items()]})
    double = StrictRoute53(f"http://127.0.0.1:{moto_port}").start()
    double.aws_alias_form = False  # the counting proxy decides per mode (moto's answers vs AWS's form)
    proxy = CountingProxy(int(double.url.rsplit(":", 1)[1]), lambda: weights_of(direct, zone_id))
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    inventory = workdir / "inventory.yml"
    inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                         f"      ansible_python_interpreter: {sys.executable}\n")
    common = {"dns_endpoint": f"http://127.0.0.1:{proxy.server_address[1]}", "dns_zone": ZONE,
              "dns_record": RECORD, "dns_values": VALUES, "dns_alias_record": ALIAS_RECORD,
              "dns_aliases": ALIASES, "dns_alias_zone": ALIAS_ZONE}
    results = {"tools": {}, "alias_rerun": {}}
    try:
        tools = (("amazon.aws.route53", "dns_aws_shift.yml"), ("route53_switch", "dns_switch.yml"))
        colour = "blue"
        for tool, playbook in tools:
            per_switch = []
            proxy.take()
            for _index in range(count):
                target = "green" if colour == "blue" else "blue"
                before = weights_of(direct, zone_id)
                run_ = methods.run_playbook(methods.PEERS / playbook, inventory,
                                            dict(common, dns_from=colour, dns_to=target))
                calls, states = proxy.take()
                if run_["rc"] != 0:
                    log(f"  {tool} shift {colour}->{target} FAILED:\n{run_['output'][-2000:]}")
                    results.setdefault("failures", []).append(tool)
                    break
                after = weights_of(direct, zone_id)
                info = classify_states([before, *states]) if states else {"both_zero": False, "both_full": False,
                                                                          "states": [before]}
                info.update({"calls": len(calls), "by_action": {a: calls.count(a) for a in sorted(set(calls))},
                             "changes": calls.count("ChangeResourceRecordSets"), "wall_s": run_["wall_s"],
                             "after": after, "to": target})
                per_switch.append(info)
                colour = target
            results["tools"][tool] = per_switch
            log(f"  {tool}: " + "; ".join(f"{s['calls']} calls, states {s['states']}" for s in per_switch[:2]))
        for mode in ("moto", "aws_alias_form"):
            proxy.aws_alias_form = mode == "aws_alias_form"
            record = f"{mode.replace('_', '-')}.{ALIAS_RECORD}"
            for tool, playbook in (("amazon.aws.route53", "dns_aws_alias.yml"),
                                   ("route53_switch", "dns_switch_alias.yml")):
                name = f"{tool.rsplit('.', maxsplit=1)[-1]}-{record}"
                # Start from blue, written directly (not counted), then switch to green and re-run that.
                direct.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
                    {"Action": "UPSERT", "ResourceRecordSet": {"Name": name, "Type": "A", "AliasTarget": {
                        "HostedZoneId": ALIAS_ZONE, "DNSName": ALIASES["blue"], "EvaluateTargetHealth": False}}}]})
                outcomes = []
                for target in ("green", "green"):
                    run_ = methods.run_playbook(methods.PEERS / playbook, inventory,
                                                dict(common, dns_alias_record=name, dns_to=target))
                    proxy.take()
                    changed = "changed=1" in run_["output"]
                    if run_["rc"] != 0:
                        log(f"  {tool} alias run to {target} FAILED:\n{run_['output'][-1500:]}")
                    outcomes.append({"to": target, "rc": run_["rc"], "changed": changed})
                results["alias_rerun"].setdefault(mode, {})[tool] = {
                    "switch_changed": outcomes[0]["changed"], "rerun_changed": outcomes[1]["changed"],
                    "failed": any(o["rc"] != 0 for o in outcomes),
                }
                log(f"  alias re-run ({mode}) {tool}: {outcomes}")
    finally:
        proxy.shutdown()
        double.stop()
        moto.terminate()
        moto.wait(timeout=10)
    return results


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]), int(sys.argv[2]), print), indent=1))
