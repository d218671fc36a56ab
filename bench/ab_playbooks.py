# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""switch.yml and rollback.yml of an earlier commit against the work tree, run in turn on one quiet lab.

The full benchmark compares methods under load and takes 15 minutes; this answers a narrower
question while changing the roles: did this change make the playbooks faster or slower? It runs
the same playbook from both trees one after the other (the order swapped every round, so neither
always goes first), against the same nginx load balancer and backends on 127.0.0.1, with no
client load, and prints the median wall time of each and the difference.

    python bench/ab_playbooks.py                      # HEAD against the work tree, 6 rounds
    python bench/ab_playbooks.py --base 3298c57 --rounds 10 --playbooks rollback.yml

The earlier commit is checked out with ``git worktree`` into a temporary directory and removed
afterwards. Each round's first run is not discarded: both trees pay the same cold start. Run it
alone on a quiet machine; the machine's load is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import methods  # noqa: E402
import servers  # noqa: E402

from tests.lib.modules import COLLECTIONS, REPO  # noqa: E402


def checkout(ref, where):
    """A worktree of ``ref`` and a collections directory that makes it switchyard.bluegreen."""
    tree = Path(where) / "tree"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), ref], check=True,
                   capture_output=True, text=True)
    collections = Path(where) / "collections"
    link = collections / "ansible_collections" / "switchyard" / "bluegreen"
    link.parent.mkdir(parents=True)
    link.symlink_to(tree)
    return tree, collections


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--base", default="HEAD", help="the commit to compare the work tree with (default HEAD)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--playbooks", default="switch.yml,rollback.yml")
    args = parser.parse_args()
    playbooks = args.playbooks.split(",")
    with tempfile.TemporaryDirectory(prefix="switchyard-ab-") as work:
        base_tree, base_collections = checkout(args.base, work)
        trees = {"base": (base_tree, base_collections), "work tree": (REPO, COLLECTIONS)}
        backends = servers.Backends(Path(work) / "backends")
        lb = servers.LoadBalancer(Path(work) / "lb")
        walls = {(name, playbook): [] for name in trees for playbook in playbooks}
        try:
            backends.start()
            methods.NginxUpstreamModule(lb, backends).setup("blue")
            lb.start()
            inventory = methods.SwitchPlaybooks(lb, backends, work).inventory
            print(f"load average before: {os.getloadavg()[0]:.2f}")
            for index in range(args.rounds):
                order = list(trees.items()) if index % 2 == 0 else list(reversed(trees.items()))
                for playbook in playbooks:
                    for name, (tree, collections) in order:
                        # No preview listener on this load balancer: the smoke test checks the servers directly.
                        env = {"ANSIBLE_COLLECTIONS_PATH": str(collections), "PYTHONPATH": str(collections)}
                        run = methods.run_playbook(tree / "playbooks" / playbook, inventory,
                                                   {"smoke_test_preview": False}, env=env)
                        if run["rc"]:
                            sys.exit(f"{playbook} of the {name} failed:\n{run['output'][-3000:]}")
                        walls[(name, playbook)].append(run["wall_s"])
            print(f"load average after: {os.getloadavg()[0]:.2f}")
        finally:
            lb.stop()
            backends.stop()
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base_tree)], check=False)
    for playbook in playbooks:
        base = statistics.median(walls[("base", playbook)])
        new = statistics.median(walls[("work tree", playbook)])
        print(f"{playbook}: {args.base} {base:.3f} s, work tree {new:.3f} s, difference {1000 * (new - base):+.0f} ms "
              f"(medians of {args.rounds} runs each)")


if __name__ == "__main__":
    main()
