# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every AWS module of the collection does around its one call into its package.

``aws_module`` builds the AnsibleModule with the shared connection options and their rules;
``run_aws_module`` makes the clients (counting their API calls), runs the module's entry point,
turns a ``SwitchyardError`` or a botocore error into a failed result with the calls made so far,
and exits with ``api_calls`` in the result.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.botocore import (
    BotoCoreError,
    ClientError,
    require_boto3,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.connection import (
    AWS_MUTUALLY_EXCLUSIVE,
    AWS_REQUIRED_TOGETHER,
    ApiCallCounter,
    aws_argument_spec,
    client_from_params,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.errors import aws_error
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import (
    SwitchyardError,
    fail_module,
)


def aws_module(argument_spec, *, mutually_exclusive=(), required_together=(), **kwargs):
    """An AnsibleModule with ``argument_spec`` plus the AWS connection options (check mode supported)."""
    spec = dict(argument_spec)
    spec.update(aws_argument_spec())
    module = AnsibleModule(
        argument_spec=spec,
        mutually_exclusive=[*mutually_exclusive, *AWS_MUTUALLY_EXCLUSIVE],
        required_together=[*required_together, *AWS_REQUIRED_TOGETHER],
        supports_check_mode=True,
        **kwargs,
    )
    require_boto3(module)
    return module


def run_aws_module(module, iam_service, call):
    """Exit ``module`` with ``call(make_client)``'s result, or fail it with a readable message.

    ``make_client(service)`` returns a boto3 client for ``service`` whose calls are counted in
    the result's ``api_calls``. ``iam_service`` (``route53``, ``elasticloadbalancing``) names the
    IAM permission a denied call needs. A result's ``warnings`` are shown as task warnings.
    """
    counter = ApiCallCounter()

    def make_client(service):
        client = client_from_params(service, module.params)
        counter.attach(client)
        return client

    try:
        result = call(make_client)
    except SwitchyardError as exc:
        fail_module(module, exc, changed=exc.details.get("changed", False), api_calls=counter.summary())
    except (BotoCoreError, ClientError) as exc:
        fail_module(module, aws_error(exc, iam_service), changed=False, api_calls=counter.summary())
    for warning in result.pop("warnings", None) or []:
        module.warn(warning)
    result["api_calls"] = counter.summary()
    module.exit_json(**result)
