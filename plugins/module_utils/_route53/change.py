# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Sending the change batch, AWS's InvalidChangeBatch body as a message, and waiting for INSYNC."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.botocore import WaiterError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.errors import describe_error
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import SwitchError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53.records import MAX_COMMENT

REFUSAL_CODES = ("InvalidChangeBatch", "InvalidInput")


def truncate_comment(comment: str) -> str:
    """ChangeBatch.Comment is at most 256 characters (Route53 API reference); cut with a marker."""
    return comment if len(comment) <= MAX_COMMENT else comment[:MAX_COMMENT - 3] + "..."


def invalid_change_batch_messages(body: bytes) -> list:
    """The <Message>s of AWS's <InvalidChangeBatch><Messages> error body ([] for another body)."""
    try:
        root = ET.fromstring(body)  # noqa: S314 - an answer of the AWS endpoint the user configured
    except ET.ParseError:
        return []
    if not root.tag.endswith("InvalidChangeBatch"):
        return []
    return [el.text.strip() for el in root.iter() if el.tag.endswith("}Message") or el.tag == "Message"
            if el.text and el.text.strip()]


def _parse_invalid_change_batch(response_dict=None, customized_response_dict=None, **kwargs):
    """botocore reads AWS's <InvalidChangeBatch> body as an error without code or message; fill them in."""
    if not response_dict or response_dict.get("status_code", 200) < 400 or customized_response_dict is None:
        return
    messages = invalid_change_batch_messages(response_dict.get("body") or b"")
    if messages:
        customized_response_dict["Error"] = {"Code": "InvalidChangeBatch", "Message": "; ".join(messages)}


def register_error_parser(client) -> None:
    service_id = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"before-parse.{service_id}.ChangeResourceRecordSets", _parse_invalid_change_batch)


def submit(client, zone_id: str, changes: list, comment: str) -> dict:
    """ChangeResourceRecordSets; botocore exceptions go to the caller, which reads the record back."""
    response = client.change_resource_record_sets(
        HostedZoneId=zone_id, ChangeBatch={"Comment": truncate_comment(comment), "Changes": changes})
    return response["ChangeInfo"]


def waiter_timing(wait_timeout: float, delay: float | None = None):
    """Delay between GetChange polls and the attempts that fit in wait_timeout."""
    if delay is None:
        delay = min(10, max(1, int(wait_timeout // 30)))
    attempts = max(1, int(wait_timeout // delay)) + 1
    return delay, attempts


def wait_insync(client, change_id: str, wait_timeout: float, delay: float | None = None) -> None:
    delay, attempts = waiter_timing(wait_timeout, delay)
    waiter = client.get_waiter("resource_record_sets_changed")
    try:
        waiter.wait(Id=change_id, WaiterConfig={"Delay": delay, "MaxAttempts": attempts})
    except WaiterError as exc:
        if "Max attempts exceeded" in str(exc):
            raise SwitchError(
                f"change {change_id} was accepted by Route53 (it applies atomically) but was still PENDING after "
                f"wait_timeout={wait_timeout} s; raise wait_timeout or check it later with GetChange",
                status="PENDING") from exc
        # The batch is already in: say so, or the operator may think nothing happened and retry blindly.
        raise SwitchError(
            f"change {change_id} was submitted and accepted by Route53, which applies it atomically whether or not "
            "this run waits; waiting for it failed: "
            + describe_error(exc, "route53", "GetChange", "for wait: true; or set wait: false"),
            status="PENDING") from exc
