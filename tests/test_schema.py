"""The migrations and the models agree, on SQLite and PostgreSQL."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import models


def test_migrated_schema_matches_models(db_url):
    engine = create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
    engine.dispose()
    # Index/constraint naming noise aside, no table or column may be missing on either side.
    serious = [d for d in diff if d[0] in ("add_table", "remove_table", "add_column", "remove_column")]
    assert serious == [], serious
