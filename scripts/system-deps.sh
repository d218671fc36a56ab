#!/usr/bin/env bash
# Install the Debian/Ubuntu packages that the demo and the tests need.
# Idempotent: apt runs only when a package is missing.
set -euo pipefail

PACKAGES=(
    python3 python3-venv git make tar ca-certificates
    # the real parts the tests drive on loopback
    nginx libnginx-mod-stream haproxy wrk postgresql
    # ansible-rulebook (the EDA automatic-rollback tests) runs on a JDK
    openjdk-17-jdk-headless
    # rootful podman for Molecule and the demo (see docs/development.md)
    podman runc catatonit slirp4netns uidmap iptables containernetworking-plugins debootstrap
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "[system-deps] all ${#PACKAGES[@]} packages present"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "[system-deps] missing packages: ${missing[*]}; run as root (or install them) and retry" >&2
    exit 1
fi
echo "[system-deps] installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
