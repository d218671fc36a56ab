# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A local moto_server for the Route53 integration tests (boto3 over real HTTP on 127.0.0.1)."""

from __future__ import annotations

import pytest

from tests.lib.moto import DUMMY_KEY, DUMMY_SECRET, MotoServer


class Route53Env:
    """A clean emulator for one test, a boto3 client on it, and the module's connection options."""

    def __init__(self, server: MotoServer) -> None:
        import boto3  # noqa: PLC0415 - only where moto runs

        self.server = server
        # State is arranged straight in moto (moto_url): shapes AWS would refuse must be arrangeable.
        # The module under test gets the strict double's url (server.url).
        self.client = boto3.client("route53", endpoint_url=getattr(server, "moto_url", server.url),
                                   region_name="us-east-1", aws_access_key_id=DUMMY_KEY,
                                   aws_secret_access_key=DUMMY_SECRET)
        self.conn = {"endpoint_url": server.url, "access_key": DUMMY_KEY, "secret_key": DUMMY_SECRET}

    def zone(self, name: str = "example.com", private: bool = False) -> str:
        count = len(self.client.list_hosted_zones()["HostedZones"])
        kwargs = {"Name": name, "CallerReference": f"{name}-{private}-{count}"}
        if private:
            kwargs["HostedZoneConfig"] = {"PrivateZone": True}
            kwargs["VPC"] = {"VPCRegion": "us-east-1", "VPCId": "vpc-0123456789"}
        return self.client.create_hosted_zone(**kwargs)["HostedZone"]["Id"].split("/")[-1]

    def put(self, zone_id: str, *rrsets: dict, action: str = "UPSERT") -> None:
        self.client.change_resource_record_sets(
            HostedZoneId=zone_id,
            ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": r} for r in rrsets]})

    def sets(self, zone_id: str, name: str, rtype: str | None = None) -> list:
        found = self.client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        return sorted((r for r in found if r["Name"].rstrip(".") == name.rstrip(".")
                       and (rtype is None or r["Type"] == rtype)),
                      key=lambda r: (r["Type"], r.get("SetIdentifier") or ""))


@pytest.fixture
def r53(moto_server):
    moto_server.reset()
    return Route53Env(moto_server)
