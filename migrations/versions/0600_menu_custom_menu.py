"""menu: the custom menu staff edit in the console (issue 16 item 7)

Revision ID: 0600_menu
Revises: 0001_core
Create Date: 2026-12-06 07:00:00
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '0600_menu'
down_revision = '0001_core'
branch_labels = ('menu',)
depends_on = None


def upgrade() -> None:
    op.create_table('custom_menu',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('updated_at', models.base.AwareDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('published_at', models.base.AwareDateTime(timezone=True), nullable=True),
    sa.Column('published_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_menu'))
    )


def downgrade() -> None:
    op.drop_table('custom_menu')
