"""Run every test layer of the collection and print one closing summary line.

Layers: ruff, ansible-lint (production profile), ansible-test sanity, pytest unit,
pytest integration, the fault-injection suite, the collection build/install check,
and each Molecule scenario.
Every layer runs even when an earlier one failed, so one run shows everything that
is wrong. Tests are counted from pytest's JUnit XML where a layer runs pytest
(Molecule's testinfra verifiers included); a layer that runs no pytest counts as
one test. The last line is `N passed, N failed` and the exit status is non-zero
when anything failed.

Usage: scripts/test.py [LAYER ...]   (default: all; `--list` shows the names)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build"
RESULTS = BUILD / "test-results"
VENV_BIN = Path(sys.executable).parent


@dataclass
class LayerResult:
    name: str
    passed: int
    failed: int
    skipped: int
    seconds: float
    ok: bool


def junit_counts(paths: list[Path]) -> tuple[int, int, int]:
    passed = failed = skipped = 0
    for path in paths:
        if not path.exists():
            continue
        root = ET.parse(path).getroot()  # noqa: S314 (our own pytest's output)
        suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
        for suite in suites:
            tests = int(suite.get("tests", 0))
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skip = int(suite.get("skipped", 0))
            passed += tests - bad - skip
            failed += bad
            skipped += skip
    return passed, failed, skipped


def run(cmd: list[str], cwd: Path = REPO, env: dict | None = None) -> int:
    print(f"\n$ {' '.join(cmd)}", flush=True)
    return subprocess.run(cmd, cwd=cwd, env=env, check=False).returncode


def base_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_COLLECTIONS_PATH"] = str(BUILD / "collections")
    env.pop("PYTEST_ADDOPTS", None)
    return env


def single(name: str, cmd: list[str], **kwargs) -> LayerResult:
    start = time.monotonic()
    rc = run(cmd, **kwargs)
    ok = rc == 0
    return LayerResult(name, int(ok), int(not ok), 0, time.monotonic() - start, ok)


def pytest_layer(name: str, paths: list[str], extra: list[str] | None = None) -> LayerResult:
    xml = RESULTS / f"{name}.xml"
    xml.unlink(missing_ok=True)
    start = time.monotonic()
    existing = [p for p in paths if (REPO / p).exists()]
    if not existing:
        print(f"\n[{name}] no tests under {paths}", flush=True)
        return LayerResult(name, 0, 0, 0, 0.0, True)
    rc = run([str(VENV_BIN / "pytest"), *existing, f"--junitxml={xml}", *(extra or [])], env=base_env())
    passed, failed, skipped = junit_counts([xml])
    # pytest exit 5 = nothing collected: not a failure of the layer by itself.
    ok = rc in (0, 5) and failed == 0
    if not ok and failed == 0:
        failed = 1
    return LayerResult(name, passed, failed, skipped, time.monotonic() - start, ok)


def layer_ruff() -> LayerResult:
    return single("ruff", [str(VENV_BIN / "ruff"), "check", "."])


def layer_ansible_lint() -> LayerResult:
    return single("ansible-lint", [str(VENV_BIN / "ansible-lint"), "--profile", "production"], env=base_env())


def layer_sanity() -> LayerResult:
    return single("sanity", ["bash", str(REPO / "scripts" / "sanity.sh")], env=base_env())


def layer_unit() -> LayerResult:
    return pytest_layer("unit", ["tests/unit"])


def layer_integration() -> LayerResult:
    return pytest_layer("integration", ["tests/integration"])


def layer_faults() -> LayerResult:
    """Fault injection against real nginx/moto; reduced counts here, full counts with `make faults`.

    At full counts the EDA automatic-rollback test also runs its full variant (a release that turns
    bad 20 s after the switch); its reduced variant is part of the integration layer.
    """
    paths = ["tests/faults"]
    if os.environ.get("SWITCHYARD_FAULT_FULL"):
        paths.append("tests/integration/eda")
    return pytest_layer("faults", paths)


def layer_fleet() -> LayerResult:
    """Ten nginx load balancers over SSH in podman (tests/fleet): failures between stage and commit, cancelled jobs.

    Reduced here (SWITCHYARD_FLEET_CANCELS, default 1 cancel per signal); `make fleet` runs 30 per signal.
    Appends its rows to the fault results (build/fault-results/results.jsonl), so it runs after the faults layer.
    """
    env_cancels = os.environ.setdefault("SWITCHYARD_FLEET_CANCELS", "1")
    print(f"\n[fleet] {env_cancels} cancel(s) per signal", flush=True)
    return pytest_layer("fleet", ["tests/fleet"])


def layer_galaxy() -> LayerResult:
    """Build the collection tarball, install it into a temporary path, list its docs."""
    start = time.monotonic()
    env = base_env()
    with tempfile.TemporaryDirectory(prefix="switchyard-galaxy-") as tmp:
        steps = [
            [str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", tmp, str(REPO)],
        ]
        rc = run(steps[0], env=env)
        tarballs = sorted(Path(tmp).glob("switchyard-bluegreen-*.tar.gz"))
        if rc == 0 and tarballs:
            listing = subprocess.run(["tar", "-tzf", str(tarballs[0])], capture_output=True, text=True, check=False)
            unwanted = [line for line in listing.stdout.splitlines()
                        if line.startswith(("build/", ".git/", "bench/results/", "tests/output/", ".cache/"))
                        or "__pycache__" in line or line.endswith((".pyc", ".tar.gz"))]
            if unwanted:
                print("tarball contains build or cache files:\n  " + "\n  ".join(unwanted[:20]), flush=True)
                rc = 1
        if rc == 0:
            install_path = Path(tmp) / "installed"
            rc = run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--force", "-p", str(install_path),
                      str(tarballs[0])], env=env)
        if rc == 0:
            env_installed = dict(env, ANSIBLE_COLLECTIONS_PATH=str(Path(tmp) / "installed"))
            doc = subprocess.run([str(VENV_BIN / "ansible-doc"), "-l", "switchyard.bluegreen"],
                                 capture_output=True, text=True, env=env_installed, check=False)
            print(doc.stdout + doc.stderr, flush=True)
            rc = doc.returncode
            if rc == 0 and "switchyard.bluegreen." not in doc.stdout:
                print("ansible-doc lists no module of switchyard.bluegreen from the installed tarball", flush=True)
                rc = 1
    ok = rc == 0
    return LayerResult("galaxy", int(ok), int(not ok), 0, time.monotonic() - start, ok)


# Scenarios that `make test` runs: every scenario that has passed a whole `molecule test`.
# A new scenario runs with `make molecule-all` until it has, then joins this list.
MAKE_TEST_SCENARIOS = ("harness", "default", "haproxy", "bad_release", "verify_rollback", "fleet", "single_host",
                       "route53")


def molecule_scenarios(every: bool = False) -> list[str]:
    root = REPO / "molecule"
    found = sorted(p.parent.name for p in root.glob("*/molecule.yml"))
    return found if every else [s for s in found if s in MAKE_TEST_SCENARIOS]


def layer_molecule(scenario: str) -> LayerResult:
    xml = RESULTS / f"molecule-{scenario}.xml"
    xml.unlink(missing_ok=True)
    env = base_env()
    # Molecule runs testinfra through pytest; this makes it write JUnit XML we can count.
    env["PYTEST_ADDOPTS"] = f"--junitxml={xml}"
    env.setdefault("MOLECULE_NO_LOG", "false")
    start = time.monotonic()
    rc = run([str(VENV_BIN / "molecule"), "test", "-s", scenario], env=env)
    passed, failed, skipped = junit_counts([xml])
    ok = rc == 0
    # The scenario itself (create, converge, idempotence, destroy) counts as one test.
    passed += int(ok)
    failed += int(not ok)
    return LayerResult(f"molecule:{scenario}", passed, failed, skipped, time.monotonic() - start, ok)


LAYERS = {
    "ruff": layer_ruff,
    "ansible-lint": layer_ansible_lint,
    "sanity": layer_sanity,
    "unit": layer_unit,
    "integration": layer_integration,
    "faults": layer_faults,
    "fleet": layer_fleet,
    "galaxy": layer_galaxy,
    "molecule": None,  # expands to one layer per scenario in MAKE_TEST_SCENARIOS
    "molecule-all": None,  # every scenario under molecule/
}


def main(argv: list[str]) -> int:
    if "--list" in argv:
        print("\n".join([*LAYERS, *(f"molecule:{s}" for s in molecule_scenarios(every=True))]))
        return 0
    wanted = argv or [name for name in LAYERS if name != "molecule-all"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: list[LayerResult] = []
    for name in wanted:
        if name in ("molecule", "molecule-all"):
            results += [layer_molecule(s) for s in molecule_scenarios(every=name == "molecule-all")]
        elif name.startswith("molecule:"):
            results.append(layer_molecule(name.split(":", 1)[1]))
        elif name in LAYERS:
            results.append(LAYERS[name]())
        else:
            print(f"unknown layer {name!r}; known: {', '.join(LAYERS)} or molecule:<scenario>", file=sys.stderr)
            return 2
    print("\nlayer                          passed  failed skipped   seconds  result")
    for r in results:
        verdict = "ok" if r.ok else "FAILED"
        print(f"{r.name:<30} {r.passed:>6} {r.failed:>7} {r.skipped:>7} {r.seconds:>9.1f}  {verdict}")
    total_passed = sum(r.passed for r in results)
    total_failed = sum(r.failed for r in results)
    total_skipped = sum(r.skipped for r in results)
    print(f"total time {sum(r.seconds for r in results):.1f} s", flush=True)
    summary = f"{total_passed} passed, {total_failed} failed"
    if total_skipped:
        summary += f", {total_skipped} skipped"
    print(summary, flush=True)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
