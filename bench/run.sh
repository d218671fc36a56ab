#!/usr/bin/env bash
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Zero-downtime benchmark: `make bench` runs `bash bench/run.sh`, `make bench-quick` adds --quick.
# Works from a fresh clone on its own too: it creates build/venv when missing, installs the
# pinned requirements-bench.txt into it (only when that file changed), links the collection
# into build/collections and runs bench/bench.py, which writes docs/benchmarks.md and
# docs/img/bench-*.png (raw data: bench/results/<UTC stamp>/).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$repo/build/venv}
cd "$repo"

if [ ! -x "$venv/bin/python" ]; then
    bash scripts/system-deps.sh
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -r requirements-test.txt
fi
stamp="$venv/.bench-requirements"
if ! cmp -s requirements-bench.txt "$stamp"; then
    echo "[bench] installing requirements-bench.txt into $venv"
    "$venv/bin/python" -m pip install -q -r requirements-bench.txt
    cp requirements-bench.txt "$stamp"
fi

link="$repo/build/collections/ansible_collections/switchyard/bluegreen"
mkdir -p "$(dirname "$link")"
[ -L "$link" ] || ln -sfn "$repo" "$link"
export ANSIBLE_COLLECTIONS_PATH="$repo/build/collections"
export PATH="$venv/bin:$PATH"

# Each switch and each script phase is bounded inside bench.py; this is the bound on the whole
# run. A full run measured 15.6 min on an idle 2-core machine (`time make bench`, real 15m35s:
# alb 12 s, eda 285 s, progressive 53 s, ssh+fleet 367 s of it; docs/benchmarks.md). Quick is about
# 4 min plus the quick SSH and fleet phase (7 min measured under load).
# The margin is for a busy machine, where every interpreter and playbook start is slower; a
# run that hits the limit writes no report, so the committed numbers come from a complete run.
limit=3300
case " $* " in *" --quick "*) limit=1500 ;; esac
exec timeout --kill-after=30 "$limit" "$venv/bin/python" bench/bench.py "$@"
