"""State: SQLAlchemy 2.0 on SQLite (WAL) by default, PostgreSQL to scale."""
