"""Alembic environment: runs migrations on the engine nubo hands over."""

from __future__ import annotations

from alembic import context

from nubo.db.models import metadata

engine = context.config.attributes.get("engine")
if engine is None:  # invoked by the alembic CLI, e.g. to autogenerate
    from sqlalchemy import create_engine

    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "sqlite://")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # tools/regen_migration.py narrows autogenerate to one service's tables
        include_object=context.config.attributes.get("include_object"),
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
