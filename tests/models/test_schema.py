"""The migrated schema is the models' schema: Alembic owns it, and no model drifts from it."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backend.database import engine
from backend.models import Base


def test_migrations_create_exactly_the_models_schema():
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
