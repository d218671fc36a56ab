# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""http_check's argument handling, run as Ansible runs the module; no request is ever sent."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"url": "http://127.0.0.1:1/", "requests": 0}, "requests: must be from 1"),
        ({"url": "http://127.0.0.1:1/", "concurrency": 0}, "concurrency: must be from 1"),
        ({"url": "http://127.0.0.1:1/", "max_error_rate": 2}, "max_error_rate: a fraction from 0 to 1"),
        ({"url": "http://127.0.0.1:1/", "expect_body": "[unclosed"}, "expect_body: '[unclosed' is not a valid"),
        ({"url": "127.0.0.1:8080/healthz"}, "is not an http:// or https:// URL"),
        ({"url": "http://127.0.0.1:1/", "urls": ["http://127.0.0.1:2/"]}, "mutually exclusive"),
        ({}, "one of the following is required: url, urls"),
        ({"url": "http://127.0.0.1:1/", "expect_header_share": {"value": "green", "min": 0.9}}, "count_header"),
    ],
)
def test_bad_input_fails_clearly_before_any_request(run_module, args, message):
    result = run_module("http_check", args)
    assert result.failed
    assert message in result["msg"]
    assert "failures" not in result  # rejected before any request was sent
