"""Regenerate one unreleased migration from the models, for one service's tables:

    python tools/regen_migration.py 0005 compute "Compute service tables (Nova v2.1)."

deletes ``<rev>_*.py``, upgrades a scratch SQLite database to the revision before it
and autogenerates it anew from the tables whose names start with ``<service>_``.
Later migrations are set aside meanwhile and keep pointing at ``<rev>``.
Released migrations (in a landed stop) must never be regenerated: add a new one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import create_engine

from nubo.db.migrate import alembic_config

VERSIONS = Path(__file__).resolve().parents[1] / "src/nubo/db/migrations/versions"


def main(rev: str, service: str, doc: str) -> None:
    previous = f"{int(rev) - 1:04d}"
    for old in VERSIONS.glob(f"{rev}_*.py"):
        old.unlink()
    prefix = f"{service}_"

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        table_name = name if type_ == "table" else getattr(table, "name", "")
        return bool(table_name and table_name.startswith(prefix))

    with tempfile.TemporaryDirectory() as tmp:
        later = [p for p in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py") if p.name[:4] > rev]
        for path in later:
            shutil.move(path, Path(tmp) / path.name)
        try:
            engine = create_engine(f"sqlite:///{tmp}/scratch.db")
            cfg = alembic_config(engine)
            cfg.attributes["include_object"] = include
            command.upgrade(cfg, previous)
            command.revision(cfg, service, autogenerate=True, rev_id=rev)
        finally:
            for path in later:
                shutil.move(Path(tmp) / path.name, VERSIONS / path.name)
    (path,) = VERSIONS.glob(f"{rev}_*.py")
    text = path.read_text()
    first_end = text.index('"""', 3) + 3
    path.write_text(f'"""{doc}"""\n' + text[first_end:].lstrip("\n"))
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "ruff"), "format", "-q", str(path)], check=True)
    subprocess.run([str(bin_dir / "ruff"), "check", "--fix", "-q", str(path)], check=True)
    print(path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
