"""Fetch the noVNC library (npm ``@novnc/novnc``, MPL-2.0) that the console page at
/compute/console/vnc_lite.html loads, into ``src/nubo/compute/novnc`` (ignored by git).

Downloads the package's tarball from the npm registry and checks it against the
pinned integrity before unpacking. ``make run`` calls it.

    .venv/bin/python tools/fetch_novnc.py
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "1.7.0"
URL = f"https://registry.npmjs.org/@novnc/novnc/-/novnc-{VERSION}.tgz"
INTEGRITY = (
    "sha512-ucEJOx4T2avIRCleodk7YobZj5O2Ga2AeLfQ69A/"
    "yjG9HHba2+PDgwSkN3FttrmG+70ZGx21sElNFouK13RzyA=="
)
TARGET = Path(__file__).resolve().parent.parent / "src" / "nubo" / "compute" / "novnc"
KEEP = ("core/", "vendor/", "LICENSE.txt", "AUTHORS", "docs/LICENSE")


def main() -> int:
    if (TARGET / "core" / "rfb.js").is_file():
        print(f"noVNC is already in {TARGET}")
        return 0
    import httpx

    data = httpx.get(URL, timeout=120, follow_redirects=True).raise_for_status().content
    digest = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if f"sha512-{digest}" != INTEGRITY:
        print(f"{URL}: integrity mismatch", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "novnc"
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                name = member.name.removeprefix("package/")
                if member.isfile() and name.startswith(KEEP):
                    member.name = name
                    tar.extract(member, staging, filter="data")
        (staging / ".gitignore").write_text("*\n")
        shutil.rmtree(TARGET, ignore_errors=True)
        shutil.move(staging, TARGET)
    print(f"noVNC {VERSION} installed in {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
