# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one shared base for AWS clients of this collection (route53_switch today, an ALB switch next).

- ``botocore``: the guarded boto3/botocore imports and ``require_boto3``.
- ``connection``: the connection options (doc fragment ``switchyard.bluegreen.aws``), the
  credentials precedence, botocore's retry configuration, the client and an API call counter.
- ``errors``: ``AwsError`` (an ``ExternalError``) and botocore exceptions turned into sentences.

Nothing here knows about a particular service beyond naming IAM permissions as ``service:Operation``.
"""
