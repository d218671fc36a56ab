#!/usr/bin/env bash
# Run `ansible-test sanity` on the collection.
# ansible-test resolves the real working directory, so a symlink into an
# ansible_collections/ tree is not enough: copy the files git knows about
# (tracked and untracked-but-not-ignored) into a build-folder tree and test there.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$repo/build/venv}
dest=$repo/build/sanity/ansible_collections/switchyard/bluegreen
rm -rf "$dest"
mkdir -p "$dest"
(cd "$repo" && git ls-files -co --exclude-standard -z | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' \
    | tar --null -T - -c) | tar -x -C "$dest"
cd "$dest"
# Pinned tool venvs are built from PyPI on first use (--venv); the host has no Docker.
exec "$venv/bin/ansible-test" sanity --venv --python 3.11 --color no "$@"
