# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Connection options of the collection's AWS modules (module_utils/_aws.py)."""

    DOCUMENTATION = r"""
options:
  region:
    description:
      - AWS region used for signing requests. Route53 is a global service, so this rarely matters.
      - When O(endpoint_url) is set and no region is given, V(us-east-1) is used.
      - Falls back to the E(AWS_REGION) or E(AWS_DEFAULT_REGION) environment variable, then to the boto3
        configuration of the profile.
    type: str
    aliases: [aws_region]
  profile:
    description:
      - Named profile from the AWS config and credentials files.
      - Falls back to E(AWS_PROFILE) or E(AWS_DEFAULT_PROFILE).
      - Explicit O(access_key)/O(secret_key) take precedence over the profile's credentials.
    type: str
    aliases: [aws_profile]
  access_key:
    description:
      - AWS access key id.
      - Falls back to E(AWS_ACCESS_KEY_ID) or E(AWS_ACCESS_KEY). When neither is set, boto3 looks up
        credentials itself (profile, instance role, SSO, ...).
    type: str
    aliases: [aws_access_key_id]
  secret_key:
    description:
      - AWS secret access key. Never logged.
      - Falls back to E(AWS_SECRET_ACCESS_KEY) or E(AWS_SECRET_KEY).
    type: str
    aliases: [aws_secret_access_key]
  session_token:
    description:
      - Session token of temporary credentials (for example from STS). Never logged.
      - Falls back to E(AWS_SESSION_TOKEN) or E(AWS_SECURITY_TOKEN).
    type: str
    aliases: [aws_session_token]
  endpoint_url:
    description:
      - URL of the API endpoint instead of AWS's own, for example a local emulator such as
        C(http://127.0.0.1:5000) started by C(moto_server).
      - Falls back to E(AWS_ENDPOINT_URL). When neither is set, botocore still honours its service-specific
        variables such as E(AWS_ENDPOINT_URL_ROUTE_53).
    type: str
    aliases: [aws_endpoint_url]
  retry_mode:
    description:
      - botocore retry mode for throttling and transient errors (including Route53's V(PriorRequestNotComplete)).
      - V(standard) retries with exponential backoff and jitter; V(adaptive) also slows the client down after
        throttling answers.
    type: str
    choices: [standard, adaptive]
    default: standard
  max_attempts:
    description:
      - Total attempts per API call, the first one included (botocore C(max_attempts)), 1-50.
      - botocore caps each backoff delay at 20 seconds, so the default of 10 allows about a minute of retries.
    type: int
    default: 10
requirements:
  - boto3 and botocore on the host that runs the module (usually the controller)
notes:
  - Every API call goes through botocore's retry handler configured by O(retry_mode) and O(max_attempts); the
    module has no retry loop of its own.
"""
