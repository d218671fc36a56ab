# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""An ALB on moto_server (real HTTP on 127.0.0.1) for alb_switch, and an error-injecting proxy in front of it.

moto has no IAM enforcement per call and no second writer, so ``InjectingProxy`` sits between the
module and moto: it forwards every ELBv2 query-protocol request, answers the actions it is told to
deny with AWS's AccessDenied error document, and runs a callback after an action (another writer
changing the listener right after the module's write).
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.lib.moto import DUMMY_KEY, DUMMY_SECRET
from tests.lib.ports import LOOPBACK

DENIED = ('<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender'
          '</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/ci is not authorized to '
          'perform: elasticloadbalancing:{action} because no identity-based policy allows the '
          'elasticloadbalancing:{action} action</Message></Error><RequestId>0</RequestId></ErrorResponse>')


class InjectingProxy:
    """HTTP proxy to moto that can deny actions and run a callback after one."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.denied: set[str] = set()
        self.after: dict[str, object] = {}
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = urllib.parse.parse_qs(body.decode()).get("Action", [""])[0]
                proxy.seen.append(action)
                if action in proxy.denied:
                    return self._answer(403, DENIED.format(action=action).encode())
                request = urllib.request.Request(proxy.upstream + self.path, data=body, method="POST",
                                                 headers={k: v for k, v in self.headers.items()
                                                          if k.lower() not in ("host", "content-length")})
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, payload = response.status, response.read()
                except urllib.error.HTTPError as exc:
                    status, payload = exc.code, exc.read()
                callback = proxy.after.pop(action, None)
                if callback is not None:
                    callback()
                return self._answer(status, payload)

            def _answer(self, status, payload):
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class AlbEnv:
    """A VPC with an ALB, target groups blue and green with one healthy instance each, and listeners.

    - listener 80 (HTTP): default forward to blue (the plain single-target-group spelling);
    - listener 443 (HTTPS): an ACM certificate, a TLS policy, authenticate-oidc (Order 1) then forward to blue;
    - listener 8080 (HTTP): the test listener, forward to green;
    - rule priority 5 on listener 80: path /api/*, forward to blue.
    """

    def __init__(self, moto_url: str, proxy: InjectingProxy) -> None:
        import boto3  # noqa: PLC0415 - only where moto runs

        kwargs = {"endpoint_url": moto_url, "region_name": "us-east-1", "aws_access_key_id": DUMMY_KEY,
                  "aws_secret_access_key": DUMMY_SECRET}
        self.proxy = proxy
        self.ec2 = boto3.client("ec2", **kwargs)
        self.elb = boto3.client("elbv2", **kwargs)
        self.acm = boto3.client("acm", **kwargs)
        self.conn = {"endpoint_url": proxy.url, "access_key": DUMMY_KEY, "secret_key": DUMMY_SECRET,
                     "region": "us-east-1"}
        self.vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.0.{i}.0/24",
                                          AvailabilityZone=f"us-east-1{zone}")["Subnet"]["SubnetId"]
                   for i, zone in ((1, "a"), (2, "b"))]
        self.lb = self.elb.create_load_balancer(Name="shop", Subnets=subnets)["LoadBalancers"][0]
        self.tg = {colour: self.target_group(f"shop-{colour}") for colour in ("blue", "green")}
        self.instances = {}
        for colour in ("blue", "green"):
            self.instances[colour] = self.register(colour)
        self.cert = self.acm.request_certificate(DomainName="shop.example.com")["CertificateArn"]
        self.http = self.listener(80, [{"Type": "forward", "TargetGroupArn": self.tg["blue"]}])
        self.https = self.listener(443, [self.oidc_action(), {"Type": "forward", "Order": 2,
                                                              "TargetGroupArn": self.tg["blue"]}],
                                   Protocol="HTTPS", Certificates=[{"CertificateArn": self.cert}],
                                   SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06")
        self.test_listener = self.listener(8080, [{"Type": "forward", "TargetGroupArn": self.tg["green"]}])
        self.rule = self.elb.create_rule(
            ListenerArn=self.http, Priority=5,
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
            Actions=[{"Type": "forward", "TargetGroupArn": self.tg["blue"]}])["Rules"][0]["RuleArn"]

    @staticmethod
    def oidc_action() -> dict:
        return {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {
            "Issuer": "https://idp.example.com", "AuthorizationEndpoint": "https://idp.example.com/auth",
            "TokenEndpoint": "https://idp.example.com/token", "UserInfoEndpoint": "https://idp.example.com/userinfo",
            "ClientId": "shop", "ClientSecret": "not-a-real-secret", "Scope": "openid",
            "OnUnauthenticatedRequest": "authenticate"}}

    def target_group(self, name: str, vpc: str | None = None) -> str:
        return self.elb.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc or self.vpc,
                                            TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]

    def register(self, colour: str) -> str:
        instance = self.ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        self.elb.register_targets(TargetGroupArn=self.tg[colour], Targets=[{"Id": instance, "Port": 80}])
        return instance

    def listener(self, port: int, actions: list, **extra) -> str:
        extra.setdefault("Protocol", "HTTP")
        return self.elb.create_listener(LoadBalancerArn=self.lb["LoadBalancerArn"], Port=port,
                                        DefaultActions=actions, **extra)["Listeners"][0]["ListenerArn"]

    def read_listener(self, arn: str) -> dict:
        return self.elb.describe_listeners(ListenerArns=[arn])["Listeners"][0]

    def read_rule(self, arn: str) -> dict:
        return self.elb.describe_rules(RuleArns=[arn])["Rules"][0]

    def weights(self, actions: list) -> dict:
        colour_of = {arn: colour for colour, arn in self.tg.items()}
        forward = next(a for a in actions if a["Type"] == "forward")
        groups = (forward.get("ForwardConfig") or {}).get("TargetGroups") or [
            {"TargetGroupArn": forward["TargetGroupArn"], "Weight": 1}]
        return {colour_of.get(g["TargetGroupArn"], g["TargetGroupArn"]): g.get("Weight", 1) for g in groups}

    def listener_weights(self, arn: str) -> dict:
        return self.weights(self.read_listener(arn)["DefaultActions"])


@pytest.fixture
def alb(moto_server):
    moto_server.reset()
    proxy = InjectingProxy(moto_server.moto_url)
    try:
        yield AlbEnv(moto_server.moto_url, proxy)
    finally:
        proxy.stop()
