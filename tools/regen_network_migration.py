"""Regenerate migration 0004 (network) from the models while it is unreleased:
deletes it, upgrades a scratch SQLite database to 0003 and autogenerates it anew."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from nubo.db.migrate import alembic_config

VERSIONS = Path(__file__).resolve().parents[1] / "src/nubo/db/migrations/versions"
DOC = '"""Network service tables (Neutron v2.0)."""\n'


def main() -> None:
    for old in VERSIONS.glob("0004_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/scratch.db")
        cfg = alembic_config(engine)
        command.upgrade(cfg, "0003")
        command.revision(cfg, "network", autogenerate=True, rev_id="0004")
    (path,) = VERSIONS.glob("0004_*.py")
    text = path.read_text()
    first_end = text.index('"""', 3) + 3
    path.write_text(DOC + text[first_end:].lstrip("\n"))
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "ruff"), "format", "-q", str(path)], check=True)
    subprocess.run([str(bin_dir / "ruff"), "check", "--fix", "-q", str(path)], check=True)
    print(path)


if __name__ == "__main__":
    main()
