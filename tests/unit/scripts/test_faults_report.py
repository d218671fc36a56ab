"""The reliability page renderer keeps every table cell on one line."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "faults_report.py"


def load_report():
    spec = importlib.util.spec_from_file_location("faults_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cell_drops_carriage_returns_and_newlines():
    report = load_report()
    text = "read from master failed: Broken pipe\r\nssh: connect to host\rtimed out\n"
    assert report.cell(text) == "read from master failed: Broken pipe ssh: connect to host timed out"


def test_cell_escapes_the_column_separator():
    report = load_report()
    assert report.cell("lb1 | lb2") == "lb1 \\| lb2"


def test_cell_of_none_is_empty():
    assert load_report().cell(None) == ""
