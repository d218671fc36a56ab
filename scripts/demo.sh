#!/usr/bin/env bash
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The local blue-green demo: a podman sandbox (one nginx load balancer, one host per
# colour) and a full cycle through the collection's real playbooks:
#   deploy v1 (blue, live) -> deploy v2 (green: provision, smoke test, switch, verify)
#   -> status -> requests through the LB -> rollback -> status.
# Ends with a report of each step's duration and leaves the sandbox up.
#
#   scripts/demo.sh          run the demo (recreates the sandbox; re-runnable)
#   scripts/demo.sh down     remove the sandbox containers
#   scripts/demo.sh status   run playbooks/status.yml against the sandbox
#   scripts/demo.sh bench N [deploy]  N rounds of switch/rollback (and deploy) on the sandbox, medians
#
# `make demo` calls this after creating build/venv, the collection symlink and the images.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${SWITCHYARD_BUILD:-$REPO/build}
VENV=${SWITCHYARD_VENV:-$BUILD/venv}
IMAGE=${SWITCHYARD_SYSTEMD_IMAGE:-localhost/switchyard/debian12-systemd:latest}
WORK=$BUILD/demo
INVENTORY=$REPO/demo/inventory.yml
PREFIX=switchyard-demo
# name:address pairs; the addresses match demo/inventory.yml.
CONTAINERS=("lb:10.88.251.10" "blue:10.88.251.11" "green:10.88.251.12")
LB_URL=http://10.88.251.10/

export ANSIBLE_COLLECTIONS_PATH=$BUILD/collections
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_LOCALHOST_WARNING=False
PY=$VENV/bin/python

log() { printf '\n== %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

down() {
    local spec
    for spec in "${CONTAINERS[@]}"; do
        podman rm -f -t 5 "$PREFIX-${spec%%:*}" >/dev/null 2>&1 || true
    done
}

preflight() {
    [ -x "$VENV/bin/ansible-playbook" ] || die "no $VENV/bin/ansible-playbook: run 'make demo' (it creates the venv)"
    [ -e "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/switchyard/bluegreen" ] ||
        die "the collection is not linked under $ANSIBLE_COLLECTIONS_PATH: run 'make demo'"
    command -v podman >/dev/null || die "podman is not installed: run 'make demo' (scripts/container-host.sh)"
    podman image exists "$IMAGE" || die "image $IMAGE is missing: run scripts/container-host.sh"
}

sandbox_up() {
    local spec name ip
    down
    for spec in "${CONTAINERS[@]}"; do
        name=$PREFIX-${spec%%:*}
        ip=${spec##*:}
        podman run -d --name "$name" --hostname "$name" --ip "$ip" --systemd=always \
            --label switchyard=demo "$IMAGE" /lib/systemd/systemd >/dev/null
    done
    for spec in "${CONTAINERS[@]}"; do
        name=$PREFIX-${spec%%:*}
        # "degraded" is fine for a container (some units cannot run there); wait at most 60 s.
        timeout 60 podman exec "$name" systemctl is-system-running --wait >/dev/null 2>&1 || true
    done
}

package() {
    local version=$1
    "$PY" "$REPO/demo/app/package.py" --version "$version" --out "$WORK/artifacts" >/dev/null
}

STEPS=()
# run_step NAME PLAYBOOK [ansible-playbook args...]: wall time and the playbook's own report line.
run_step() {
    local name=$1 playbook=$2
    shift 2
    local logfile="$WORK/logs/$(echo "$name" | tr -c 'A-Za-z0-9.\n' '_').log" start end seconds
    log "$name: ansible-playbook playbooks/$playbook -i demo/inventory.yml $*"
    start=$(date +%s.%N)
    if ! "$VENV/bin/ansible-playbook" -i "$INVENTORY" "$REPO/playbooks/$playbook" "$@" >"$logfile" 2>&1; then
        tail -40 "$logfile"
        die "step '$name' failed (full log: $logfile); the sandbox is left up for inspection"
    fi
    end=$(date +%s.%N)
    seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    # The playbooks' report tasks print one "msg" line; show it.
    grep -E '^\s+"msg": "' "$logfile" | grep -E 'live on|Rolled back|Nothing|is live' | tail -1 |
        sed -E 's/^\s+"msg": "(.*)"$/   \1/' || true
    STEPS+=("$(printf '%-28s %7ss' "$name" "$seconds")")
}

deploy_args() {
    local version=$1 archive="$WORK/artifacts/demo-app-$1.tar.gz"
    printf '%s\n' -e "bluegreen_version=$version" -e "bluegreen_artifact=$archive" \
        -e "bluegreen_artifact_checksum=$(cat "$archive.sha256")"
}

# with_sampler NAME CMD...: run CMD while demo/measure_overlap.py samples the LB.
OVERLAPS=()
with_sampler() {
    local name=$1
    shift
    local stop="$WORK/sampler.stop" out="$WORK/sampler-$(echo "$name" | tr -c 'A-Za-z0-9.\n' '_').json" pid
    rm -f "$stop" "$out"
    "$PY" "$REPO/demo/measure_overlap.py" --url "$LB_URL" --stop-file "$stop" --out "$out" --max-seconds 900 \
        --threads 2 --interval-ms 10 &
    pid=$!
    # A failing step exits the script: stop the sampler with it.
    trap "touch '$stop'" EXIT
    "$@"
    touch "$stop"
    trap - EXIT
    wait "$pid" || true
    OVERLAPS+=("$name: $("$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(
        "%(requests)d requests, %(errors)d errors, answers %(answers)s, both colours served for %(overlap_ms).0f ms"
        " (%(interleaved_answers)d answers in that window)" % r)' "$out")")
}

show_requests() {
    log "5 requests through the load balancer ($LB_URL)"
    "$PY" - "$LB_URL" <<'PYEOF'
import sys, urllib.request
for _ in range(5):
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        print("   %s %s X-App-Color=%s X-App-Version=%s X-Bluegreen-Color=%s  %s" % (
            r.status, r.reason, r.headers.get("X-App-Color"), r.headers.get("X-App-Version"),
            r.headers.get("X-Bluegreen-Color"), r.read().decode().strip()))
PYEOF
}

demo() {
    preflight
    mkdir -p "$WORK/logs" "$WORK/artifacts"
    local t0 t1
    t0=$(date +%s)
    log "Packaging the sample application (demo/app) as release artifacts 1.0.0 and 2.0.0"
    package 1.0.0
    package 2.0.0
    ls -1 "$WORK"/artifacts/*.tar.gz | sed 's/^/   /'

    log "Sandbox: ${CONTAINERS[*]} from $IMAGE"
    local s0
    s0=$(date +%s.%N)
    sandbox_up
    STEPS+=("$(printf '%-28s %7ss' "sandbox (3 containers)" "$(awk -v a="$s0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')")")

    # shellcheck disable=SC2046
    run_step "deploy 1.0.0 (first: blue)" deploy.yml $(deploy_args 1.0.0)
    # shellcheck disable=SC2046
    with_sampler "deploy 2.0.0" run_step "deploy 2.0.0 (green)" deploy.yml $(deploy_args 2.0.0)
    run_step "status" status.yml
    sed -n '/Show the status/,/^$/p' "$WORK/logs/status.log" | grep -E '^\s+"(app|router|blue|green)' | sed 's/^ */   /'
    show_requests
    with_sampler "rollback" run_step "rollback (to blue)" rollback.yml
    run_step "status after rollback" status.yml
    sed -n '/Show the status/,/^$/p' "$WORK/logs/status_after_rollback.log" |
        grep -E '^\s+"(app|router|blue|green)' | sed 's/^ */   /'
    # shellcheck disable=SC2046
    run_step "deploy 1.0.0 again (no-op)" deploy.yml $(deploy_args 1.0.0)
    t1=$(date +%s)

    log "Report"
    printf '   %s\n' "${STEPS[@]}"
    printf '   %-28s %7ss\n' "total" "$((t1 - t0))"
    echo "   Traffic sampled through the load balancer during the switches:"
    printf '     %s\n' "${OVERLAPS[@]}"
    echo "   Logs: $WORK/logs/"
    echo "   Try:  curl -si $LB_URL | grep X-   (live)   curl -si http://10.88.251.10:8080/ | grep X-   (preview)"
    echo "   The sandbox is still up. Tear it down with: scripts/demo.sh down"
}

# bench N [deploy]: on the running sandbox, N rounds of switch and rollback (with "deploy",
# also a deploy of a new version each round), with the overlap sampler; prints each
# duration and the medians.
bench() {
    preflight
    local rounds=${1:-3} steps="switch rollback" i version
    podman container exists "$PREFIX-lb" || die "no sandbox: run scripts/demo.sh first"
    mkdir -p "$WORK/logs" "$WORK/artifacts"
    [ "${2:-}" = deploy ] && steps="deploy rollback switch"
    : >"$WORK/bench.tsv"
    for i in $(seq 1 "$rounds"); do
        version=3.$i.$(date +%s)
        [ "${2:-}" = deploy ] && package "$version"
        for step in $steps; do
            local start end
            start=$(date +%s.%N)
            case $step in
                # shellcheck disable=SC2046
                deploy) with_sampler "bench $step $i" run_step "bench $step $i" deploy.yml $(deploy_args "$version") ;;
                rollback) with_sampler "bench $step $i" run_step "bench $step $i" rollback.yml ;;
                switch) with_sampler "bench $step $i" run_step "bench $step $i" switch.yml ;;
            esac
            end=$(date +%s.%N)
            printf '%s\t%s\t%s\n' "$step" "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')" \
                "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["overlap_ms"])' \
                    "$WORK/sampler-$(echo "bench $step $i" | tr -c 'A-Za-z0-9.\n' '_').json")" >>"$WORK/bench.tsv"
        done
    done
    log "Bench: $rounds rounds (wall seconds, and ms during which both colours answered)"
    "$PY" - "$WORK/bench.tsv" <<'PYEOF'
import statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().split("\n") if line]
for step in ("deploy", "rollback", "switch"):
    walls = [float(r[1]) for r in rows if r[0] == step]
    if not walls:
        continue
    overlaps = [float(r[2]) for r in rows if r[0] == step]
    print("   %-9s wall s: %s  median %.1f | both colours ms: %s  median %.0f" % (
        step, " ".join("%.1f" % w for w in walls), statistics.median(walls),
        " ".join("%.0f" % o for o in overlaps), statistics.median(overlaps)))
PYEOF
    printf '   %s\n' "${OVERLAPS[@]}"
}

case "${1:-up}" in
    up | demo) demo ;;
    down) down; echo "demo sandbox removed" ;;
    status)
        preflight
        "$VENV/bin/ansible-playbook" -i "$INVENTORY" "$REPO/playbooks/status.yml" | sed -n '/Show the status/,/^$/p'
        ;;
    bench) bench "${2:-3}" "${3:-}" ;;
    *) die "usage: $0 [up|down|status|bench [ROUNDS]]" ;;
esac
