# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Blue/green switching of one Route53 record, over a boto3 client from ``_aws``.

- ``records``: names, values and record sets, normalised the way Route53 compares them.
- ``spec``: the validated input of a switch or an info query (everything checked locally).
- ``zones``: finding the hosted zone, reading the record, refusing delegated subzones.
- ``plan``: the current shape, the wanted record sets and the guarded change batch.
- ``change``: submitting the batch, AWS error bodies, waiting, reading back after a failure.
- ``switch``: the two entry points, ``switch()`` and ``info()``.
"""
