# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Connection options, credentials precedence, botocore retry configuration and the client.

Credentials precedence (docs/route53_switch.md has the table), following botocore's own
order and amazon.aws's rule:

1. ``profile`` together with ``access_key``/``secret_key``/``session_token`` options is refused.
2. ``access_key`` + ``secret_key`` options: those keys; a session token only from the
   ``session_token`` option (a stale ``AWS_SESSION_TOKEN`` in the environment is not attached).
3. ``profile`` option: that profile only; credentials in the environment are ignored
   (botocore drops its environment provider for an explicitly given profile).
4. Neither: environment keys (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` with
   ``AWS_SESSION_TOKEN``, or the legacy ``AWS_ACCESS_KEY``/``AWS_SECRET_KEY``/``AWS_SECURITY_TOKEN``),
   then ``AWS_PROFILE``/``AWS_DEFAULT_PROFILE``, then botocore's chain (default profile, SSO,
   container and instance roles).

That is why the credential options have no ``env_fallback`` in the argument spec: a value
read from the environment must not count as an explicit option.
"""

from __future__ import annotations

import os

from ansible.module_utils.basic import env_fallback

from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.botocore import (
    BotoCoreError,
    Config,
    boto3,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.errors import AwsError, describe_error
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError

RETRY_MODES = ("standard", "adaptive")
DEFAULT_RETRY_MODE = "standard"
# botocore's own default is 3 attempts. A zone whose previous change is still being
# processed answers PriorRequestNotComplete for seconds, so allow a longer, still
# bounded, exponential backoff window (botocore caps each delay at 20 s).
DEFAULT_MAX_ATTEMPTS = 10
KEY_OPTIONS = ("access_key", "secret_key", "session_token")
ENV_KEYS = (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
            ("AWS_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SECURITY_TOKEN"))


def aws_argument_spec() -> dict:
    """Connection options shared by every AWS module of the collection."""
    return {
        "region": {"type": "str", "aliases": ["aws_region"],
                   "fallback": (env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"])},
        "profile": {"type": "str", "aliases": ["aws_profile"]},
        "access_key": {"type": "str", "aliases": ["aws_access_key_id"], "no_log": False},
        "secret_key": {"type": "str", "aliases": ["aws_secret_access_key"], "no_log": True},
        "session_token": {"type": "str", "aliases": ["aws_session_token"], "no_log": True},
        "endpoint_url": {"type": "str", "aliases": ["aws_endpoint_url"],
                         "fallback": (env_fallback, ["AWS_ENDPOINT_URL"])},
        "retry_mode": {"type": "str", "choices": list(RETRY_MODES), "default": DEFAULT_RETRY_MODE},
        "max_attempts": {"type": "int", "default": DEFAULT_MAX_ATTEMPTS},
    }


AWS_REQUIRED_TOGETHER = [["access_key", "secret_key"]]
# amazon.aws's rule: a profile and explicit keys name two identities; refuse rather than guess.
AWS_MUTUALLY_EXCLUSIVE = [["profile", "access_key"], ["profile", "secret_key"], ["profile", "session_token"]]


def check_connection_params(params: dict) -> None:
    """Local checks of the connection options; raises InputError naming the option."""
    endpoint_url = params.get("endpoint_url")
    if endpoint_url and not endpoint_url.startswith(("http://", "https://")):
        raise InputError(f"endpoint_url {endpoint_url!r} must start with http:// or https://")
    max_attempts = params.get("max_attempts")
    if max_attempts is not None and not 1 <= max_attempts <= 50:
        raise InputError(f"max_attempts must be between 1 and 50 (total attempts per API call), got {max_attempts}")
    given = [k for k in KEY_OPTIONS if params.get(k)]
    if params.get("profile") and given:
        raise InputError(f"profile and {'/'.join(given)} were both given: they name two different identities. "
                         "Use either profile or access_key/secret_key (with session_token for temporary "
                         "credentials), not both")
    if params.get("session_token") and not params.get("access_key"):
        raise InputError("session_token needs access_key and secret_key from the same temporary credentials")
    if bool(params.get("access_key")) != bool(params.get("secret_key")):
        raise InputError("access_key and secret_key must be given together")


def resolve_credentials(params: dict, environ=None) -> tuple[dict, str]:
    """boto3 Session keyword arguments and a description of the credentials source (no secret in it)."""
    check_connection_params(params)
    environ = os.environ if environ is None else environ
    if params.get("access_key"):
        session = {"aws_access_key_id": params["access_key"], "aws_secret_access_key": params["secret_key"]}
        if params.get("session_token"):
            session["aws_session_token"] = params["session_token"]
        return session, "access_key/secret_key options"
    if params.get("profile"):
        # botocore removes the environment provider when a profile is given explicitly.
        return {"profile_name": params["profile"]}, f"profile option ({params['profile']})"
    for key_var, secret_var, token_var in ENV_KEYS:
        if environ.get(key_var) and environ.get(secret_var):
            session = {"aws_access_key_id": environ[key_var], "aws_secret_access_key": environ[secret_var]}
            token = environ.get(token_var) or environ.get("AWS_SESSION_TOKEN") or environ.get("AWS_SECURITY_TOKEN")
            if token:
                session["aws_session_token"] = token
            return session, f"environment ({key_var}/{secret_var})"
    profile = environ.get("AWS_PROFILE") or environ.get("AWS_DEFAULT_PROFILE")
    if profile:
        return {"profile_name": profile}, f"environment profile ({profile})"
    return {}, "botocore default chain"


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


def client_from_params(service: str, params: dict, config=None, environ=None):
    """A boto3 client from the module's connection options (precedence: module docstring)."""
    session_kwargs, _source = resolve_credentials(params, environ)
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


__all__ = [
    "AWS_MUTUALLY_EXCLUSIVE",
    "AWS_REQUIRED_TOGETHER",
    "ApiCallCounter",
    "aws_argument_spec",
    "botocore_config",
    "check_connection_params",
    "client_from_params",
    "resolve_credentials",
]
