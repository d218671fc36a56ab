# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one shared base for AWS clients in this collection.

Connection options (documented in doc_fragments/aws.py), a boto3 client built with
botocore's own retry configuration, an API call counter, and botocore errors turned
into messages that say what to fix. No Ansible import here except in the helpers
that take a module, so the rest stays testable as plain Python.
"""

from __future__ import annotations

import traceback

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
        WaiterError,
    )

    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised only without boto3
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = traceback.format_exc()

    class _MissingBotocoreError(Exception):
        """Stands in for botocore's exceptions so that imports work; require_boto3() fails first."""

    BotoCoreError = ClientError = EndpointConnectionError = NoCredentialsError = _MissingBotocoreError
    PartialCredentialsError = ProfileNotFound = WaiterError = _MissingBotocoreError

from ansible.module_utils.basic import env_fallback, missing_required_lib

RETRY_MODES = ("standard", "adaptive")
DEFAULT_RETRY_MODE = "standard"
# botocore's own default is 3 attempts. A zone whose previous change is still being
# processed answers PriorRequestNotComplete for seconds, so allow a longer, still
# bounded, exponential backoff window (botocore caps each delay at 20 s).
DEFAULT_MAX_ATTEMPTS = 10

ACCESS_DENIED_CODES = frozenset(
    ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess")
)
THROTTLING_CODES = frozenset(("Throttling", "ThrottlingException", "PriorRequestNotComplete", "RequestLimitExceeded"))


def aws_argument_spec() -> dict:
    """Connection options shared by every AWS module of the collection."""
    return {
        "region": {"type": "str", "aliases": ["aws_region"],
                   "fallback": (env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"])},
        "profile": {"type": "str", "aliases": ["aws_profile"],
                    "fallback": (env_fallback, ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"])},
        "access_key": {"type": "str", "aliases": ["aws_access_key_id"], "no_log": False,
                       "fallback": (env_fallback, ["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"])},
        "secret_key": {"type": "str", "aliases": ["aws_secret_access_key"], "no_log": True,
                       "fallback": (env_fallback, ["AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"])},
        "session_token": {"type": "str", "aliases": ["aws_session_token"], "no_log": True,
                          "fallback": (env_fallback, ["AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"])},
        "endpoint_url": {"type": "str", "aliases": ["aws_endpoint_url"],
                         "fallback": (env_fallback, ["AWS_ENDPOINT_URL"])},
        "retry_mode": {"type": "str", "choices": list(RETRY_MODES), "default": DEFAULT_RETRY_MODE},
        "max_attempts": {"type": "int", "default": DEFAULT_MAX_ATTEMPTS},
    }


AWS_REQUIRED_TOGETHER = [["access_key", "secret_key"]]


class AwsError(Exception):
    """An AWS problem already phrased for the user."""


def require_boto3(module) -> None:
    if not HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3 and botocore"), exception=BOTO3_IMPORT_ERROR)


def check_connection_params(params: dict) -> None:
    """Local checks of the connection options; raises AwsError naming the option."""
    endpoint_url = params.get("endpoint_url")
    if endpoint_url and not endpoint_url.startswith(("http://", "https://")):
        raise AwsError(f"endpoint_url {endpoint_url!r} must start with http:// or https://")
    max_attempts = params.get("max_attempts")
    if max_attempts is not None and not 1 <= max_attempts <= 50:
        raise AwsError(f"max_attempts must be between 1 and 50 (total attempts per API call), got {max_attempts}")
    if params.get("session_token") and not params.get("access_key"):
        raise AwsError("session_token needs access_key and secret_key from the same temporary credentials")


def botocore_config(retry_mode: str = DEFAULT_RETRY_MODE, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                    user_agent_extra: str = "switchyard.bluegreen"):
    """botocore Config that lets botocore itself retry throttling and transient errors.

    In both `standard` and `adaptive` mode botocore (retries/standard.py) already treats
    Route53's PriorRequestNotComplete as transient and as throttling, and its
    _retry.json lists it for route53, so no extra retry rule is registered here;
    `adaptive` additionally rate-limits the client after throttling answers.
    """
    return Config(
        retries={"mode": retry_mode, "total_max_attempts": max_attempts},
        user_agent_extra=user_agent_extra,
    )


class ApiCallCounter:
    """Counts API operations and the HTTP requests sent for them, retries included.

    Operations are counted on `before-parameter-build` (once per call, and still seen when a
    Stubber answers on `before-call`); HTTP requests on `before-send`, inside the retry loop.
    """

    def __init__(self) -> None:
        self.by_operation: dict[str, int] = {}
        self.http_requests = 0

    def attach(self, client) -> ApiCallCounter:
        client.meta.events.register("before-parameter-build", self._on_call)
        client.meta.events.register("before-send", self._on_send)
        return self

    def _on_call(self, model=None, **kwargs):
        name = model.name if model is not None else "unknown"
        self.by_operation[name] = self.by_operation.get(name, 0) + 1

    def _on_send(self, **kwargs):
        self.http_requests += 1

    def summary(self) -> dict:
        return {
            "total": sum(self.by_operation.values()),
            "http_requests": self.http_requests,
            "by_operation": dict(sorted(self.by_operation.items())),
        }


def client_from_params(service: str, params: dict, config=None):
    """A boto3 client from the module's connection options."""
    check_connection_params(params)
    session_kwargs = {}
    if params.get("profile"):
        session_kwargs["profile_name"] = params["profile"]
    if params.get("access_key"):
        session_kwargs["aws_access_key_id"] = params["access_key"]
        session_kwargs["aws_secret_access_key"] = params.get("secret_key")
        if params.get("session_token"):
            session_kwargs["aws_session_token"] = params["session_token"]
    if config is None:
        config = botocore_config(params.get("retry_mode") or DEFAULT_RETRY_MODE,
                                 params.get("max_attempts") or DEFAULT_MAX_ATTEMPTS)
    region = params.get("region")
    endpoint_url = params.get("endpoint_url")
    if endpoint_url and not region:
        # A custom endpoint (a local emulator) has no partition to derive the signing
        # region from; us-east-1 is where AWS signs its global services.
        region = "us-east-1"
    try:
        session = boto3.session.Session(**session_kwargs)
        return session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)
    except (BotoCoreError, ValueError) as exc:
        raise AwsError(describe_error(exc)) from exc


def connection_hint(params: dict) -> str:
    return f" (endpoint {params['endpoint_url']})" if params.get("endpoint_url") else ""


def error_code(exc) -> str | None:
    if HAS_BOTO3 and isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code")
    if HAS_BOTO3 and isinstance(exc, WaiterError):
        return (exc.last_response or {}).get("Error", {}).get("Code")
    return None


def describe_error(  # noqa: PLR0911 - one early return per kind of botocore error reads best
        exc, service: str = "route53", operation: str | None = None, purpose: str | None = None) -> str:
    """One readable sentence for a botocore exception, naming the fix where there is one."""
    if isinstance(exc, WaiterError):
        last = exc.last_response or {}
        err = last.get("Error") or {}
        code = err.get("Code")
        if code:
            fake = ClientError({"Error": err, "ResponseMetadata": last.get("ResponseMetadata", {})},
                               operation or "Unknown")
            return describe_error(fake, service, operation, purpose)
        return f"waiting failed: {exc}"
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "Unknown")
        message = err.get("Message", "")
        op = exc.operation_name or operation or "Unknown"
        permission = f"{service}:{op}"
        for_what = f" (needed {purpose})" if purpose else ""
        if code in ACCESS_DENIED_CODES:
            return (f"AWS denied {op}: {code}: {message}. The credentials in use lack the IAM permission "
                    f"{permission}{for_what}; grant it to the role or user, or use other credentials.")
        if code in ("InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException",
                    "ExpiredToken", "ExpiredTokenException", "InvalidAccessKeyId"):
            return (f"AWS rejected the credentials on {op}: {code}: {message}. Check access_key/secret_key/"
                    "session_token or profile (or the AWS_* environment variables).")
        if code in THROTTLING_CODES:
            attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
            return (f"{op} still failed with {code} after {attempts + 1} attempts: {message}. "
                    "Raise max_attempts or use retry_mode=adaptive, or run fewer changes against the zone at once.")
        return f"{op} failed: {code}: {message}"
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


__all__ = [
    "AWS_REQUIRED_TOGETHER",
    "BOTO3_IMPORT_ERROR",
    "HAS_BOTO3",
    "ApiCallCounter",
    "AwsError",
    "BotoCoreError",
    "ClientError",
    "WaiterError",
    "aws_argument_spec",
    "botocore_config",
    "check_connection_params",
    "client_from_params",
    "describe_error",
    "error_code",
    "require_boto3",
]
