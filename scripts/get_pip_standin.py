"""Stand-in for the get-pip.py bootstrap script that `ansible-test --venv` downloads.

ansible-test fetches that script from a host these machines cannot reach, then runs
it with pip-install arguments to put pip (and setuptools/wheel) into a fresh venv.
This does the same with the standard library's ensurepip followed by a normal
`pip install` from the package index that pip is configured for.
"""

from __future__ import annotations

import subprocess
import sys

SWITCHES_WITHOUT_PIP_MEANING = {"--no-setuptools", "--no-wheel"}


def main() -> None:
    requested = [arg for arg in sys.argv[1:] if arg not in SWITCHES_WITHOUT_PIP_MEANING]
    if subprocess.call([sys.executable, "-c", "import pip"], stderr=subprocess.DEVNULL) != 0:
        subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--upgrade", *requested])


if __name__ == "__main__":
    main()
