# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Connection options of the collection's AWS modules (module_utils/_aws/connection.py)."""

    DOCUMENTATION = r"""
options:
  region:
    description:
      - AWS region of the API. Regional services (Elastic Load Balancing) need the region of the load balancer;
        for a global service such as Route53 it only selects the signing region.
      - When O(endpoint_url) is set and no region is given, V(us-east-1) is used.
      - Falls back to the E(AWS_REGION) or E(AWS_DEFAULT_REGION) environment variable, then to the boto3
        configuration of the profile.
    type: str
    aliases: [aws_region]
  profile:
    description:
      - Named profile from the AWS config and credentials files.
      - Given as an option, only this profile is used; AWS credentials in the environment (E(AWS_ACCESS_KEY_ID),
        E(AWS_SECRET_ACCESS_KEY), E(AWS_SESSION_TOKEN)) are ignored, as botocore does for an explicit profile.
      - Mutually exclusive with O(access_key), O(secret_key) and O(session_token).
      - Without the option, E(AWS_PROFILE) or E(AWS_DEFAULT_PROFILE) is used when the environment has no keys.
    type: str
    aliases: [aws_profile]
  access_key:
    description:
      - AWS access key id. Given as an option, it is used with O(secret_key) and only O(session_token); a session
        token in the environment is not attached to it.
      - Without the option (and without O(profile)), E(AWS_ACCESS_KEY_ID) and E(AWS_SECRET_ACCESS_KEY) (or
        E(AWS_ACCESS_KEY) and E(AWS_SECRET_KEY)) with E(AWS_SESSION_TOKEN) are used; then E(AWS_PROFILE); then
        botocore's own chain (default profile, SSO, container or instance role).
    type: str
    aliases: [aws_access_key_id]
  secret_key:
    description:
      - AWS secret access key. Never logged.
      - Required with O(access_key). Without the option, see O(access_key) for the environment variables used.
    type: str
    aliases: [aws_secret_access_key]
  session_token:
    description:
      - Session token of temporary credentials (for example from STS). Never logged. Needs O(access_key).
      - Without the option, E(AWS_SESSION_TOKEN) (or E(AWS_SECURITY_TOKEN)) is used only together with keys from
        the environment, never with O(access_key) or O(profile).
    type: str
    aliases: [aws_session_token]
  endpoint_url:
    description:
      - URL of the API endpoint instead of AWS's own, for example a local emulator such as
        C(http://127.0.0.1:5000) started by C(moto_server).
      - Falls back to E(AWS_ENDPOINT_URL). When neither is set, botocore still honours its service-specific
        variables such as E(AWS_ENDPOINT_URL_ROUTE_53) or
        E(AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2).
    type: str
    aliases: [aws_endpoint_url]
  retry_mode:
    description:
      - botocore retry mode for throttling and transient errors (for example Route53's
        V(PriorRequestNotComplete) or Elastic Load Balancing's V(Throttling)).
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
  - "Credentials precedence: O(access_key)/O(secret_key) options, else the O(profile) option, else keys from the
    environment, else E(AWS_PROFILE), else botocore's chain. O(profile) together with keys is refused."
  - Every API call goes through botocore's retry handler configured by O(retry_mode) and O(max_attempts); the
    module has no retry loop of its own.
"""
