# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A strict Route53 double: an HTTP proxy on 127.0.0.1 in front of moto_server.

moto accepts what AWS refuses and applies part of a failed batch. The double checks every
ChangeResourceRecordSets the way AWS does before moto sees it, and applies a batch all or
nothing, one batch at a time. The rules (each from the AWS document named, listed in
docs/route53_switch.md):

- A batch is transactional: validated as a whole, applied whole or not at all
  (API reference, ChangeResourceRecordSets, "Change Batches and Transactional Changes").
- DELETE must give every value of the live record set exactly; a DELETE of a missing set or
  a CREATE of an existing one is refused (API reference, ChangeResourceRecordSets and Change).
- ChangeBatch.Comment is at most 256 characters (API reference, ChangeBatch).
- An alias to a CloudFront distribution (zone Z2FDTNDATAQYW2) cannot evaluate target health
  and cannot be created in a private zone (API reference, AliasTarget).
- Weights are 0-255 and need a SetIdentifier; weighted and simple sets cannot share a name and
  type; a CNAME cannot share its name with other records (API reference, ResourceRecordSet;
  Developer Guide, "Choosing a routing policy" and RFC 1034 3.6.2 for CNAME).
- Weighted sets of one name and type share one TTL: AWS sets every set of the group to the
  TTL given last (Developer Guide, "Values specific for weighted records", TTL).
- Alias DNS names are answered lowercased with a trailing dot.

Faults are queued per operation (``inject``): an AWS error answer (``Throttling``,
``PriorRequestNotComplete``, ``AccessDenied``, ``ServiceUnavailable``, or ``InvalidChangeBatch``
in AWS's <InvalidChangeBatch><Messages> form), ``apply_then_drop``
(the batch is applied, then the connection is closed without an answer, as a read timeout
or a lost answer looks to the client), ``hang_then_drop`` (applied, answer held
``hang_seconds``, then dropped), ``drop`` (closed before anything is applied) and ``pending``
(the change answers PENDING; moto is always INSYNC). The double counts requests per
operation and records which access key id signed each one (never the secret).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import signal
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

try:
    from .ports import LOOPBACK
except ImportError:  # run as a script (python tests/lib/route53_double.py --moto-url ...)
    LOOPBACK = "127.0.0.1"

NS = "https://route53.amazonaws.com/doc/2013-04-01/"
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"
MAX_COMMENT = 256
# Limits of one ChangeResourceRecordSets request (API reference, ChangeResourceRecordSets, "limitations").
MAX_CHANGES = 100
MAX_RECORDS = 1000
MAX_VALUE_CHARS = 32000

ERRORS = {
    "Throttling": (400, "Throttling", "Rate exceeded"),
    "PriorRequestNotComplete": (400, "PriorRequestNotComplete",
                                "The request was rejected because Route 53 was still processing a prior request."),
    "AccessDenied": (403, "AccessDenied",
                     "User: arn:aws:iam::123456789012:user/deployer is not authorized to perform: route53:{operation}"),
    "ServiceUnavailable": (503, "ServiceUnavailable", "Service is unavailable, please try again later"),
}
DROPS = ("apply_then_drop", "hang_then_drop", "drop")
# AWS's own refusal body, for checking that the client reads its <Messages>.
REFUSALS = {"InvalidChangeBatch": ["Tried to create resource record set [name='api.example.com.', type='A', "
                                   "set-identifier='green'] but it already exists"]}

OPERATIONS = (
    ("POST", re.compile(r"/hostedzone/[^/]+/rrset$"), "ChangeResourceRecordSets"),
    ("GET", re.compile(r"/hostedzone/[^/]+/rrset$"), "ListResourceRecordSets"),
    ("GET", re.compile(r"/change/[^/]+$"), "GetChange"),
    ("GET", re.compile(r"/hostedzonesbyname$"), "ListHostedZonesByName"),
    ("GET", re.compile(r"/hostedzone/[^/]+$"), "GetHostedZone"),
    ("GET", re.compile(r"/hostedzone$"), "ListHostedZones"),
    ("POST", re.compile(r"/hostedzone$"), "CreateHostedZone"),
)


def operation_of(method: str, path: str) -> str:
    path = urlsplit(path).path.rstrip("/")
    for verb, pattern, name in OPERATIONS:
        if method == verb and pattern.search(path):
            return name
    return f"{method} {path}"


def error_xml(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{_escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId>"
            "</ErrorResponse>").encode()


def invalid_change_batch_xml(messages: list) -> bytes:
    """AWS's own shape for a refused batch (API reference, Errors of ChangeResourceRecordSets)."""
    items = "".join(f"<Message>{_escape(m)}</Message>" for m in messages)
    return (f'<?xml version="1.0"?>\n<InvalidChangeBatch xmlns="{NS}"><Messages>{items}</Messages>'
            f"<RequestId>{uuid.uuid4()}</RequestId></InvalidChangeBatch>").encode()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------- record sets


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element, name):
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def parse_rrset(element) -> dict:
    """A <ResourceRecordSet> as the boto3-shaped dict moto's client returns."""
    rrset = {}
    for child in element:
        name = _local(child.tag)
        if name == "ResourceRecords":
            rrset["ResourceRecords"] = [{"Value": (_child(r, "Value").text or "")} for r in child]
        elif name == "AliasTarget":
            rrset["AliasTarget"] = {
                "HostedZoneId": _child(child, "HostedZoneId").text,
                "DNSName": _child(child, "DNSName").text,
                "EvaluateTargetHealth": (_child(child, "EvaluateTargetHealth").text or "").lower() == "true",
            }
        elif name in ("Weight", "TTL"):
            rrset[name] = int(child.text)
        elif len(child):
            rrset[name] = {_local(c.tag): c.text for c in child}
        else:
            rrset[name] = child.text
    return rrset


def parse_change_request(body: bytes):
    root = ET.fromstring(body)  # noqa: S314 - the module under test wrote it
    batch = _child(root, "ChangeBatch")
    comment_el = _child(batch, "Comment")
    changes = []
    for change in _child(batch, "Changes"):
        changes.append({"Action": _child(change, "Action").text,
                        "ResourceRecordSet": parse_rrset(_child(change, "ResourceRecordSet"))})
    return (comment_el.text if comment_el is not None else None), changes


def norm_name(name: str) -> str:
    return re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), str(name)).rstrip(".").lower()


def set_key(rrset: dict):
    return (norm_name(rrset.get("Name", "")), rrset.get("Type"), rrset.get("SetIdentifier"))


def exact(rrset: dict):
    """What a DELETE must match: every value of the set (values as a set, names without case and dot)."""
    alias = rrset.get("AliasTarget")
    other = tuple(sorted((k, repr(v)) for k, v in rrset.items() if k not in (
        "Name", "Type", "SetIdentifier", "Weight", "TTL", "ResourceRecords", "AliasTarget", "HealthCheckId")))
    return (
        set_key(rrset), rrset.get("Weight"), None if alias else rrset.get("TTL"),
        tuple(sorted(r["Value"] for r in rrset.get("ResourceRecords") or [])),
        (norm_name(alias["DNSName"]), str(alias["HostedZoneId"]).upper(), bool(alias.get("EvaluateTargetHealth")))
        if alias else None,
        rrset.get("HealthCheckId"), other,
    )


def describe(rrset: dict) -> str:
    text = f"[name='{norm_name(rrset.get('Name', ''))}.', type='{rrset.get('Type')}'"
    if rrset.get("SetIdentifier") is not None:
        text += f", set-identifier='{rrset['SetIdentifier']}'"
    return text + "]"


def check_batch(current: dict, changes: list, comment, private_zone: bool):
    """Apply ``changes`` to a copy of ``current`` the way AWS does; returns (final, messages, ttl_fixes)."""
    messages = []
    if comment is not None and len(comment) > MAX_COMMENT:
        messages.append(f"1 validation error detected: Value at 'changeBatch.comment' failed to satisfy constraint: "
                        f"Member must have length less than or equal to {MAX_COMMENT}")
    records = [r["Value"] for c in changes for r in c["ResourceRecordSet"].get("ResourceRecords") or []]
    if len(changes) > MAX_CHANGES or len(records) > MAX_RECORDS or sum(map(len, records)) > MAX_VALUE_CHARS:
        messages.append(f"the request exceeds Route53's limits: at most {MAX_CHANGES} changes, {MAX_RECORDS} "
                        f"ResourceRecord elements and {MAX_VALUE_CHARS} characters of values")
    final = dict(current)
    touched = set()
    last_ttl = {}
    for change in changes:
        action, rrset = change["Action"], change["ResourceRecordSet"]
        key = set_key(rrset)
        touched.add(key[:2])
        if action == "CREATE" and key in final:
            messages.append(f"Tried to create resource record set {describe(rrset)} but it already exists")
        elif action == "DELETE" and key not in final:
            messages.append(f"Tried to delete resource record set {describe(rrset)} but it was not found")
        elif action == "DELETE" and exact(final[key]) != exact(rrset):
            messages.append(f"Tried to delete resource record set {describe(rrset)} but the values provided do not "
                            "match the current values")
        elif action == "DELETE":
            del final[key]
        else:
            final[key] = rrset
            if rrset.get("SetIdentifier") is not None and "TTL" in rrset:
                last_ttl[key[:2]] = rrset["TTL"]
    messages += _check_sets(final, touched, private_zone)
    ttl_fixes = []
    for (name, rtype), ttl in last_ttl.items():
        for key, rrset in final.items():
            if key[:2] == (name, rtype) and "TTL" in rrset and rrset["TTL"] != ttl:
                final[key] = {**rrset, "TTL": ttl}
                ttl_fixes.append(key)
    return final, messages, ttl_fixes


def _check_sets(final: dict, touched: set, private_zone: bool) -> list:
    messages = []
    for key, rrset in final.items():
        if key[:2] not in touched:
            continue
        alias = rrset.get("AliasTarget") or {}
        if str(alias.get("HostedZoneId", "")).upper() == CLOUDFRONT_ZONE_ID:
            if alias.get("EvaluateTargetHealth"):
                messages.append(f"RRSet {describe(rrset)}: EvaluateTargetHealth can't be true when the alias target "
                                "is a CloudFront distribution")
            if private_zone:
                messages.append(f"RRSet {describe(rrset)}: alias records to a CloudFront distribution can't be "
                                "created in a private hosted zone")
        if alias and "TTL" in rrset:
            messages.append(f"RRSet {describe(rrset)}: an alias record cannot have a TTL")
        if "Weight" in rrset and (rrset.get("SetIdentifier") is None or not 0 <= rrset["Weight"] <= 255):
            messages.append(f"RRSet {describe(rrset)}: Weight must be 0-255 and comes with a SetIdentifier")
    for name, rtype in sorted(touched, key=str):
        group = [r for k, r in final.items() if k[:2] == (name, rtype)]
        if any(r.get("SetIdentifier") is None for r in group) and len(group) > 1:
            messages.append(f"RRSet with DNS name {name}., type {rtype} cannot mix a non-weighted record with "
                            "weighted records of the same name and type")
        others = {k[1] for k in final if k[0] == name}
        if "CNAME" in others and len(others) > 1:
            messages.append(f"RRSet of type CNAME with DNS name {name}. is not permitted as it conflicts with other "
                            "records with the same DNS name")
    return messages


# --------------------------------------------------------------------------- the proxy


class StrictRoute53:
    """The double; ``url`` is what the module under test gets as endpoint_url."""

    def __init__(self, moto_url: str, hang_seconds: float = 2.0, port: int = 0):
        import boto3  # noqa: PLC0415 - only where moto runs

        target = urlsplit(moto_url)
        self.moto_url = moto_url
        self.upstream = (target.hostname, target.port)
        self.moto = boto3.client("route53", endpoint_url=moto_url, region_name="us-east-1",
                                 aws_access_key_id="double", aws_secret_access_key="double-secret")  # noqa: S106 - moto
        self.hang_seconds = hang_seconds
        # Answer alias DNS names the way AWS does (lowercased, trailing dot); off to see moto's own answers.
        self.aws_alias_form = True
        self.batch_lock = threading.Lock()
        self.lock = threading.Lock()
        self.clear()
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                operation = operation_of(self.command, self.path)
                action = double._record(operation, self.headers)
                if action in ERRORS:
                    status, code, message = ERRORS[action]
                    self._reply(status, {"Content-Type": "text/xml"}, error_xml(code, message.format(
                        operation=operation)))
                    return
                if action in REFUSALS:
                    self._reply(400, {"Content-Type": "text/xml"}, invalid_change_batch_xml(REFUSALS[action]))
                    return
                if action == "drop":
                    self.close_connection = True
                    return
                if operation == "ChangeResourceRecordSets":
                    double._wait_at_gate()
                    status, headers, payload = double._change(self.path, body)
                else:
                    status, headers, payload = double._forward(self.command, self.path, self.headers, body)
                if operation == "ListResourceRecordSets" and status == 200 and double.aws_alias_form:
                    payload = _aws_alias_form(payload)
                pending = action == "pending" or (operation == "ChangeResourceRecordSets" and double.submit_pending)
                if pending:
                    payload = payload.replace(b"<Status>INSYNC</Status>", b"<Status>PENDING</Status>")
                if action in ("apply_then_drop", "hang_then_drop"):
                    if action == "hang_then_drop":
                        time.sleep(double.hang_seconds)
                    self.close_connection = True
                    return
                self._reply(status, headers, payload)

            def _reply(self, status, headers, payload):
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PUT = _handle  # noqa: N815 (http.server naming)

        self._server = ThreadingHTTPServer((LOOPBACK, port), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="route53-double", daemon=True)

    # ------------------------------------------------------------------ control

    def clear(self) -> None:
        """Forget queued faults, counters and signers (the zones live in moto)."""
        with self.lock:
            self.queues: dict[str, deque] = {}
            self.seen: dict[str, int] = {}
            self.injected: dict[str, int] = {}
            self.signers: list[tuple[str, str, bool]] = []
            self.refused: list[list[str]] = []
            self.submit_pending = False
            self._gate = None

    def inject(self, operation: str, *actions: str) -> None:
        """Queue answers for the next calls of ``operation`` (ERRORS names, DROPS, or "pending")."""
        unknown = [a for a in actions if a not in ERRORS and a not in DROPS and a not in REFUSALS and a != "pending"]
        if unknown:
            raise ValueError(f"unknown faults {unknown}")
        with self.lock:
            self.queues.setdefault(operation, deque()).extend(actions)

    def hold_changes(self, count: int, timeout: float = 20.0) -> None:
        """Hold the next ``count`` ChangeResourceRecordSets until all of them have arrived.

        Runs started together then all plan from the same read before any of them writes: the
        interleaving that concurrency control is about, every round instead of by luck.
        """
        with self.lock:
            self._gate = {"count": count, "arrived": 0, "open": threading.Event(), "timeout": timeout}

    def _wait_at_gate(self) -> None:
        with self.lock:
            gate = self._gate
            if gate is None or gate["arrived"] >= gate["count"]:
                return
            gate["arrived"] += 1
            if gate["arrived"] >= gate["count"]:
                gate["open"].set()
        gate["open"].wait(gate["timeout"])

    def start(self) -> StrictRoute53:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ internals

    def _record(self, operation: str, headers):
        auth = headers.get("Authorization") or ""
        key_id = auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else None
        with self.lock:
            self.seen[operation] = self.seen.get(operation, 0) + 1
            self.signers.append((operation, key_id, bool(headers.get("X-Amz-Security-Token"))))
            queue = self.queues.get(operation)
            if queue:
                self.injected[operation] = self.injected.get(operation, 0) + 1
                return queue.popleft()
        return None

    def _forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            forward = {k: v for k, v in headers.items() if k.lower() not in ("connection", "content-length")}
            conn.request(method, path, body=body or None, headers=forward)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def _current(self, zone_id: str) -> dict:
        sets = self.moto.list_resource_record_sets(HostedZoneId=zone_id, MaxItems="1000")["ResourceRecordSets"]
        return {set_key(s): s for s in sets}

    def _change(self, path: str, body: bytes):
        zone_id = urlsplit(path).path.rstrip("/").split("/")[-2]
        try:
            comment, changes = parse_change_request(body)
        except (ET.ParseError, AttributeError, TypeError, ValueError) as exc:
            return 400, {"Content-Type": "text/xml"}, error_xml("InvalidInput", f"malformed request: {exc}")
        with self.batch_lock:  # AWS applies one batch of a zone at a time, whole
            try:
                zone = self.moto.get_hosted_zone(Id=zone_id)["HostedZone"]
            except self.moto.exceptions.NoSuchHostedZone:
                return 404, {"Content-Type": "text/xml"}, error_xml("NoSuchHostedZone", f"No hosted zone {zone_id}")
            current = self._current(zone_id)
            final, messages, _fixes = check_batch(current, changes, comment,
                                                  bool(zone.get("Config", {}).get("PrivateZone")))
            if not changes:
                messages.append("1 validation error detected: ChangeBatch.Changes must have at least 1 item")
            if messages:
                with self.lock:
                    self.refused.append(messages)
                return 400, {"Content-Type": "text/xml"}, invalid_change_batch_xml(messages)
            change_id = self._apply(zone_id, current, final)
        submitted = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        payload = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ChangeResourceRecordSetsResponse xmlns="{NS}">'
                   f"<ChangeInfo><Id>/change/{change_id}</Id><Status>INSYNC</Status>"
                   f"<SubmittedAt>{submitted}</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>")
        return 200, {"Content-Type": "text/xml"}, payload.encode()

    def _apply(self, zone_id: str, current: dict, final: dict) -> str:
        """Bring moto from ``current`` to ``final`` (already validated) with UPSERTs and DELETEs."""
        moto_changes = []
        for key, rrset in current.items():
            if key not in final:
                moto_changes.append({"Action": "DELETE", "ResourceRecordSet": rrset})
        for key, rrset in final.items():
            if key not in current or exact(current[key]) != exact(rrset):
                moto_changes.append({"Action": "UPSERT", "ResourceRecordSet": rrset})
        if any(c["Action"] == "DELETE" and c["ResourceRecordSet"].get("SetIdentifier") for c in moto_changes):
            # moto deletes every set with that SetIdentifier in the zone: write the survivors again.
            deleted_ids = {c["ResourceRecordSet"]["SetIdentifier"] for c in moto_changes if c["Action"] == "DELETE"}
            written = {set_key(c["ResourceRecordSet"]) for c in moto_changes if c["Action"] == "UPSERT"}
            moto_changes += [{"Action": "UPSERT", "ResourceRecordSet": r} for k, r in final.items()
                             if r.get("SetIdentifier") in deleted_ids and k not in written]
        if not moto_changes:
            return f"C{uuid.uuid4().hex[:12].upper()}"
        response = self.moto.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": moto_changes})
        return response["ChangeInfo"]["Id"].split("/")[-1]


def _aws_alias_form(payload: bytes) -> bytes:
    """AWS answers alias DNS names lowercased with a trailing dot, whatever was sent."""
    def fix(match):
        name = match.group(1).decode().lower()
        return f"<DNSName>{name if name.endswith('.') else name + '.'}</DNSName>".encode()
    return re.sub(rb"<DNSName>([^<]*)</DNSName>", fix, payload)


def main(argv=None) -> None:
    """Serve the double in front of a running moto_server until SIGTERM/SIGINT (for Molecule, the benchmark)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moto-url", required=True, help="moto_server's URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    options = parser.parse_args(argv)
    double = StrictRoute53(options.moto_url, port=options.port).start()
    print(json.dumps({"url": double.url}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    double.stop()


if __name__ == "__main__":
    main()
