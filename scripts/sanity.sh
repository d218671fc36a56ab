#!/usr/bin/env bash
# Run `ansible-test sanity` on the collection.
# ansible-test resolves the real working directory, so a symlink into an
# ansible_collections/ tree is not enough: copy the files git knows about
# (tracked and untracked-but-not-ignored) into a build-folder tree and test there.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$repo/build/venv}
# SANITY_ROOT lets parallel runs use private copies.
dest=${SANITY_ROOT:-$repo/build/sanity}/ansible_collections/switchyard/bluegreen
rm -rf "$dest"
mkdir -p "$dest"
(cd "$repo" && git ls-files -co --exclude-standard -z | tar --null --ignore-failed-read -T - -c 2>/dev/null) \
    | tar -x -C "$dest"
# ansible-test bootstraps pip in its venvs with a script it downloads from a host
# outside the package registries; give it a stand-in that uses ensurepip + PyPI.
pip_version=$("$venv/bin/python" - <<'PY'
import re, ansible_test, pathlib
src = (pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if ! cmp -s "$repo/scripts/get_pip_standin.py" "$cache"; then
    mkdir -p "$(dirname "$cache")"
    cp "$repo/scripts/get_pip_standin.py" "$cache"
fi
cd "$dest"
# A repository of its own: otherwise ansible-test asks the enclosing checkout's
# git, which ignores build/ and so reports no files at all.
git init -q . && git add -A
# Pinned tool venvs are built from PyPI on first use (--venv); the host has no Docker.
exec "$venv/bin/ansible-test" sanity --venv --python 3.11 --color no "$@"
