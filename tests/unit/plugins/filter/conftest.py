# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a Jinja expression the way a role does, for comparing a filter with the expression it replaced."""

from __future__ import annotations

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template


@pytest.fixture
def render():
    def _render(expression, **variables):
        return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))

    return _render
