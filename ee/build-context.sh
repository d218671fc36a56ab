#!/usr/bin/env bash
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Build the collection tarball into build/dist/ and the execution environment's build
# context into build/ee-context/ (ansible-builder create). The image build itself
# (ansible-builder build, or podman/docker build on the context) needs the base image
# from a registry, so it is a separate step:
#
#   ee/build-context.sh
#   podman build -f build/ee-context/Containerfile -t switchyard-bluegreen-ee:0.1.0 build/ee-context
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${SWITCHYARD_VENV:-$REPO/build/venv}
DIST=$REPO/build/dist
CONTEXT=${1:-$REPO/build/ee-context}

mkdir -p "$DIST"
rm -f "$DIST"/switchyard-bluegreen-*.tar.gz
"$VENV/bin/ansible-galaxy" collection build "$REPO" --output-path "$DIST" --force >/dev/null
tarball=$(ls "$DIST"/switchyard-bluegreen-*.tar.gz)
# ee/requirements.yml names the tarball by version: keep them in step.
grep -q "collections/$(basename "$tarball")" "$REPO/ee/requirements.yml" ||
    { echo "ee/requirements.yml does not name $(basename "$tarball") (galaxy.yml version changed?)" >&2; exit 1; }
rm -rf "$CONTEXT"
(cd "$REPO" && "$VENV/bin/ansible-builder" create -f execution-environment.yml -c "$CONTEXT" --output-filename Containerfile)
echo "collection: $tarball"
echo "context:    $CONTEXT"
