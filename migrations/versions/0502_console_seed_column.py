"""console: ship the seed article's 【改革破难】 column

Revision ID: 0502_console_seed_column
Revises: 0501_staff_bind_code
Create Date: 2026-12-06

A data migration: a fresh install already has the column 改革破难 (its menu key
``COLUMN_REFORM``) for staff to add articles to. Inserted once, only when no column has that
name: a column staff deleted later is not recreated (this revision never runs again).
"""
from alembic import op
import sqlalchemy as sa


revision = '0502_console_seed_column'
down_revision = '0501_staff_bind_code'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    have = bind.execute(sa.text("SELECT count(*) FROM article_columns WHERE name = :n"),
                        {"n": "改革破难"}).scalar()
    key_taken = bind.execute(sa.text("SELECT count(*) FROM article_columns WHERE menu_key = :k"),
                             {"k": "COLUMN_REFORM"}).scalar()
    if not have:
        table = sa.table("article_columns", sa.column("name"), sa.column("menu_key"),
                         sa.column("description"), sa.column("active"))
        op.bulk_insert(table, [{"name": "改革破难", "menu_key": None if key_taken else "COLUMN_REFORM",
                                "description": "县妇联“改革破难”专栏", "active": True}])


def downgrade() -> None:
    pass  # the column may hold staff's articles by now: never delete it
