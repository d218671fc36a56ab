# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""boto3/botocore imported once, with stand-ins so that modules import without them."""

from __future__ import annotations

import traceback

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
        ReadTimeoutError,
        WaiterError,
    )

    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised only without boto3
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = traceback.format_exc()
    boto3 = Config = None

    class _MissingBotocoreError(Exception):
        """Stands in for botocore's exceptions so that imports work; require_boto3() fails first."""

    BotoCoreError = ClientError = EndpointConnectionError = NoCredentialsError = _MissingBotocoreError
    PartialCredentialsError = ProfileNotFound = WaiterError = _MissingBotocoreError
    ConnectionClosedError = ReadTimeoutError = _MissingBotocoreError

from ansible.module_utils.basic import missing_required_lib


def require_boto3(module) -> None:
    if not HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3 and botocore"), exception=BOTO3_IMPORT_ERROR)


__all__ = [
    "BOTO3_IMPORT_ERROR",
    "HAS_BOTO3",
    "BotoCoreError",
    "ClientError",
    "Config",
    "ConnectionClosedError",
    "EndpointConnectionError",
    "NoCredentialsError",
    "PartialCredentialsError",
    "ProfileNotFound",
    "ReadTimeoutError",
    "WaiterError",
    "boto3",
    "require_boto3",
]
