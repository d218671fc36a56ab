# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Package the demo application as a release artifact.

    python3 demo/app/package.py --version 2.0.0 --out build/demo/artifacts

writes <out>/demo-app-<version>.tar.gz (app.py and VERSION at the top level) and
<out>/demo-app-<version>.tar.gz.sha256, and prints the archive path and its
`sha256:<hex>` checksum. The archive is reproducible (fixed owners, modes and
times), so packaging the same version twice gives the same checksum and a
second deploy of it changes nothing.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import re
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")


def _member(name: str, data: bytes, mode: int) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info, io.BytesIO(data)


def release_archive(app_source: bytes, version: str) -> bytes:
    """The release tarball (gzip) of app.py and a VERSION file saying version, byte for byte reproducible.

    molecule/shared/faulty_release.py builds its faulty releases with it too."""
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(*_member("app.py", app_source, 0o755))
        tar.addfile(*_member("VERSION", f"{version}\n".encode(), 0o644))
    return raw.getvalue()


def write_release(out: Path, version: str, data: bytes) -> tuple[Path, str]:
    """Write <out>/demo-app-<version>.tar.gz (only when its bytes differ) and its .sha256; (path, checksum)."""
    out.mkdir(parents=True, exist_ok=True)
    archive = out / f"demo-app-{version}.tar.gz"
    checksum = "sha256:" + hashlib.sha256(data).hexdigest()
    if not archive.exists() or archive.read_bytes() != data:
        archive.write_bytes(data)
    Path(f"{archive}.sha256").write_text(checksum + "\n", encoding="utf-8")
    return archive, checksum


def package(version: str, out: Path) -> tuple[Path, str]:
    if not VERSION_RE.match(version):
        raise SystemExit(f"--version {version!r}: use letters, digits and . + _ - (at most 64)")
    return write_release(out, version, release_archive((HERE / "app.py").read_bytes(), version))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--version", required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    archive, checksum = package(args.version, args.out)
    print(f"{archive} {checksum}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
