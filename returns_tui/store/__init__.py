"""Storage: SQLAlchemy tables, the engine, migrations and the queries the console needs."""
