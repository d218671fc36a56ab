# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS failures as sentences that say what to fix."""

from __future__ import annotations

from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.botocore import (
    HAS_BOTO3,
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    WaiterError,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import ExternalError

ACCESS_DENIED_CODES = frozenset(
    ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess")
)
THROTTLING_CODES = frozenset(("Throttling", "ThrottlingException", "PriorRequestNotComplete", "RequestLimitExceeded"))
CREDENTIAL_CODES = frozenset(("InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException",
                              "ExpiredToken", "ExpiredTokenException", "InvalidAccessKeyId"))


class AwsError(ExternalError):
    """An AWS API or credentials problem, already phrased for the user."""


def error_code(exc) -> str | None:
    if HAS_BOTO3 and isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code")
    if HAS_BOTO3 and isinstance(exc, WaiterError):
        return (exc.last_response or {}).get("Error", {}).get("Code")
    return None


def _describe_client_error(exc, service: str | None, operation: str | None, purpose: str | None) -> str:
    err = exc.response.get("Error", {})
    code = err.get("Code", "Unknown")
    message = err.get("Message", "")
    op = exc.operation_name or operation or "Unknown"
    for_what = f" (needed {purpose})" if purpose else ""
    if code in ACCESS_DENIED_CODES:
        permission = f"{service}:{op}" if service else f"for {op}"
        return (f"AWS denied {op}: {code}: {message}. The credentials in use lack the IAM permission "
                f"{permission}{for_what}; grant it to the role or user, or use other credentials.")
    if code in CREDENTIAL_CODES:
        return (f"AWS rejected the credentials on {op}: {code}: {message}. Check access_key/secret_key/"
                "session_token or profile (or the AWS_* environment variables; see the credentials precedence "
                "in the module documentation).")
    if code in THROTTLING_CODES:
        attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
        return (f"{op} still failed with {code} after {attempts + 1} attempts: {message}. "
                "Raise max_attempts or use retry_mode=adaptive, "
                "or run fewer changes against the same resource at once.")
    return f"{op} failed: {code}: {message}"


def describe_error(  # noqa: PLR0911 - one early return per kind of botocore error reads best
        exc, service: str | None = None, operation: str | None = None, purpose: str | None = None) -> str:
    """One readable sentence for a botocore exception, naming the fix where there is one.

    ``service`` is the IAM service prefix (``route53``, ``elasticloadbalancing``) used to name a
    missing permission as ``service:Operation``.
    """
    if isinstance(exc, WaiterError):
        last = exc.last_response or {}
        err = last.get("Error") or {}
        if err.get("Code"):
            fake = ClientError({"Error": err, "ResponseMetadata": last.get("ResponseMetadata", {})},
                               operation or "Unknown")
            return describe_error(fake, service, operation, purpose)
        return f"waiting failed: {exc}"
    if isinstance(exc, ClientError):
        return _describe_client_error(exc, service, operation, purpose)
    if isinstance(exc, NoCredentialsError):
        return ("no AWS credentials found: set access_key and secret_key, or profile, "
                "or the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_PROFILE environment variables")
    if isinstance(exc, PartialCredentialsError):
        return f"incomplete AWS credentials: {exc}; set both access_key and secret_key"
    if isinstance(exc, ProfileNotFound):
        return f"{exc}; check profile (or AWS_PROFILE) against ~/.aws/config"
    if isinstance(exc, EndpointConnectionError):
        return f"{exc}; check endpoint_url and network access to AWS"
    if isinstance(exc, BotoCoreError):
        return f"{type(exc).__name__}: {exc}"
    return str(exc)


def aws_error(exc, service: str | None = None, operation: str | None = None, purpose: str | None = None,
              **details) -> AwsError:
    """``AwsError`` for a botocore exception (raise it ``from exc``)."""
    return AwsError(describe_error(exc, service, operation, purpose), **details)


__all__ = ["ACCESS_DENIED_CODES", "THROTTLING_CODES", "AwsError", "aws_error", "describe_error", "error_code"]
