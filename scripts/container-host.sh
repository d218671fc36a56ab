#!/usr/bin/env bash
# Prepare this host to run rootful podman containers, then build the local
# Debian 12 images that Molecule and the demo use. No registry is reachable
# from these machines, so the images are made with debootstrap.
# Idempotent: every step is skipped when its result is already there.
set -euo pipefail

BASE_IMAGE=${SWITCHYARD_BASE_IMAGE:-localhost/switchyard/debian12:latest}
SYSTEMD_IMAGE=${SWITCHYARD_SYSTEMD_IMAGE:-localhost/switchyard/debian12-systemd:latest}
LB_SSH_IMAGE=${SWITCHYARD_LB_SSH_IMAGE:-localhost/switchyard/debian12-lb-ssh:latest}
WORK=${SWITCHYARD_IMAGE_WORK:-/var/tmp/switchyard-images}

log() { printf '[container-host] %s\n' "$*"; }

apt_mirror() {
    # The mirror apt already uses on this host (deb822 first, then the classic list).
    local uri=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

podman_works() {
    podman run --rm --network none "$BASE_IMAGE" true >/dev/null 2>&1
}

configure_podman() {
    # Only touch the host configuration when podman cannot run a container as it is.
    if podman_works; then
        return
    fi
    log "podman cannot start a container with the default settings; applying host settings"
    local nofile
    nofile=$(ulimit -Hn)
    mkdir -p /etc/containers
    cat > /etc/containers/containers.conf <<CONF
# Written by switchyard scripts/container-host.sh: this host has hybrid cgroups
# and root lacks CAP_SYS_RESOURCE, so crun and the default ulimits fail.
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=32768:32768"]

[engine]
runtime = "runc"
CONF
    if ! podman_works; then
        log "podman still cannot run a container; output follows"
        podman run --rm --network none "$BASE_IMAGE" true
        exit 1
    fi
}

build_base() {
    if podman image exists "$BASE_IMAGE"; then
        log "image $BASE_IMAGE present"
        return
    fi
    local root="$WORK/rootfs"
    rm -rf "$root"
    mkdir -p "$root"
    log "debootstrap bookworm from $(apt_mirror) (about a minute)"
    debootstrap --variant=minbase \
        --include=python3,python3-apt,ca-certificates,curl,iproute2,procps,sudo \
        bookworm "$root" "$(apt_mirror)" >"$WORK/debootstrap.log" 2>&1 || {
        tail -20 "$WORK/debootstrap.log"; exit 1; }
    # The containers use the host's mirror too.
    echo "deb $(apt_mirror) bookworm main" > "$root/etc/apt/sources.list"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$root"
    log "built $BASE_IMAGE"
}

build_systemd() {
    if podman image exists "$SYSTEMD_IMAGE"; then
        log "image $SYSTEMD_IMAGE present"
        return
    fi
    local ctx="$WORK/systemd"
    mkdir -p "$ctx"
    # nginx and haproxy are preinstalled so role runs do not depend on a mirror,
    # but their units stay disabled: the roles decide what runs.
    cat > "$ctx/Containerfile" <<CF
FROM $BASE_IMAGE
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      systemd systemd-sysv dbus nginx haproxy \
 && systemctl disable nginx haproxy \
 && rm -f /etc/nginx/sites-enabled/default \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && rm -f /lib/systemd/system/multi-user.target.wants/getty* \
          /etc/systemd/system/getty.target.wants/*
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
CF
    log "building $SYSTEMD_IMAGE"
    podman build --network host -t "$SYSTEMD_IMAGE" "$ctx" >"$WORK/systemd-build.log" 2>&1 || {
        tail -20 "$WORK/systemd-build.log"; exit 1; }
    log "built $SYSTEMD_IMAGE"
}

build_lb_ssh() {
    # A load balancer reached over SSH, as AWX reaches one (tests/lib/sshfleet.py, tests/fleet).
    # Root logs in with a key only; the client key is generated per run and copied in by the lab,
    # so no credential is baked in. The host keys are generated once at build time (every
    # container shares them; clients of the lab do not check them).
    if podman image exists "$LB_SSH_IMAGE"; then
        log "image $LB_SSH_IMAGE present"
        return
    fi
    local ctx="$WORK/lb-ssh"
    mkdir -p "$ctx"
    cat > "$ctx/Containerfile" <<CF
FROM $SYSTEMD_IMAGE
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && printf '%s\\n' 'PermitRootLogin prohibit-password' 'PasswordAuthentication no' \
      'KbdInteractiveAuthentication no' 'UseDNS no' 'MaxStartups 100:30:200' 'MaxSessions 50' \
      > /etc/ssh/sshd_config.d/switchyard.conf \
 && install -d -m 0700 /root/.ssh \
 && systemctl enable ssh nginx
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
CF
    log "building $LB_SSH_IMAGE"
    podman build --network host -t "$LB_SSH_IMAGE" "$ctx" >"$WORK/lb-ssh-build.log" 2>&1 || {
        tail -20 "$WORK/lb-ssh-build.log"; exit 1; }
    log "built $LB_SSH_IMAGE"
}

mkdir -p "$WORK"
build_base
configure_podman
build_systemd
build_lb_ssh
