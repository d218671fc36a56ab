# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Credentials precedence of the AWS base (issue 15, item 1), seen in the signature of a real request.

Each test builds the client the modules build, sends one request and reads the access key id from
its Authorization header (and whether a session token was attached) before it leaves the process.
"""

from __future__ import annotations

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws import connection
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError

AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
            "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


class SignedError(Exception):
    """Raised from before-send with what the request was signed with."""

    def __init__(self, headers):
        super().__init__("signed")
        auth = headers.get("Authorization", b"")
        auth = auth.decode() if isinstance(auth, bytes) else auth
        self.key_id = auth.split("Credential=", 1)[1].split("/", 1)[0]
        self.token = headers.get("X-Amz-Security-Token")


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """A clean AWS environment with a `prod` profile in private config files."""
    for var in AWS_VARS:
        monkeypatch.delenv(var, raising=False)
    credentials = tmp_path / "credentials"
    credentials.write_text("[prod]\naws_access_key_id = PROFILEKEY\naws_secret_access_key = profile-secret\n")
    config = tmp_path / "config"
    config.write_text("[profile prod]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


def signed_with(params: dict) -> SignedError:
    params = {"endpoint_url": "http://127.0.0.1:9", "max_attempts": 1, **params}
    client = connection.client_from_params("route53", params)

    def capture(request, **kwargs):
        raise SignedError(request.headers)

    client.meta.events.register("before-send", capture)
    with pytest.raises(SignedError) as caught:
        client.list_hosted_zones()
    return caught.value


def test_explicit_profile_wins_over_environment_keys(aws_env):
    aws_env.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    aws_env.setenv("AWS_SESSION_TOKEN", "stale-env-token")
    signed = signed_with({"profile": "prod"})
    assert signed.key_id == "PROFILEKEY"
    assert signed.token is None


def test_explicit_keys_do_not_take_a_stale_environment_token(aws_env):
    aws_env.setenv("AWS_SESSION_TOKEN", "stale-env-token")
    signed = signed_with({"access_key": "OPTIONKEY", "secret_key": "option-secret"})
    assert signed.key_id == "OPTIONKEY"
    assert signed.token is None
    with_token = signed_with({"access_key": "OPTIONKEY", "secret_key": "option-secret", "session_token": "tok"})
    assert with_token.token in ("tok", b"tok")


def test_profile_and_explicit_keys_are_refused(aws_env):
    with pytest.raises(InputError, match="profile and access_key/secret_key were both given"):
        connection.client_from_params("route53", {"profile": "prod", "access_key": "K", "secret_key": "S"})


def test_environment_keys_with_their_token_when_no_option(aws_env):
    aws_env.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    aws_env.setenv("AWS_SESSION_TOKEN", "env-token")
    aws_env.setenv("AWS_PROFILE", "prod")
    signed = signed_with({})
    # botocore's own order: environment keys before AWS_PROFILE.
    assert signed.key_id == "ENVKEY"
    assert signed.token in ("env-token", b"env-token")


def test_environment_profile_when_no_keys(aws_env):
    aws_env.setenv("AWS_PROFILE", "prod")
    assert signed_with({}).key_id == "PROFILEKEY"


def test_resolve_names_the_source_without_secrets(aws_env):
    session, source = connection.resolve_credentials({"profile": "prod"}, environ={"AWS_ACCESS_KEY_ID": "X"})
    assert session == {"profile_name": "prod"} and "profile option" in source
    _session, source = connection.resolve_credentials({}, environ={"AWS_ACCESS_KEY": "L", "AWS_SECRET_KEY": "S"})
    assert source == "environment (AWS_ACCESS_KEY/AWS_SECRET_KEY)"


def test_argument_spec_has_no_environment_fallback_for_credentials():
    spec = connection.aws_argument_spec()
    for option in ("profile", "access_key", "secret_key", "session_token"):
        assert "fallback" not in spec[option], option
    assert ["profile", "access_key"] in connection.AWS_MUTUALLY_EXCLUSIVE
