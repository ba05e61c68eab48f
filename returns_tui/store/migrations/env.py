"""Alembic's entry point: always run with a connection handed in by store.engine.upgrade."""

from alembic import context

from returns_tui.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
context.run_migrations()
