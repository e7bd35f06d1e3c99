"""followers: where her town came from (figures per town)

Revision ID: 0002_followers_town
Revises: 0001_core
Create Date: 2026-12-06

``town_source`` (inferred / stated / staff) and ``town_at`` let a later statement of hers win
over a town inferred from a position, and never the other way round
(models/followers.py ``set_follower_town``).
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '0002_followers_town'
down_revision = '0001_core'
branch_labels = ('followers',)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('followers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('town_source', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('town_at', models.base.AwareDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('followers', schema=None) as batch_op:
        batch_op.drop_column('town_at')
        batch_op.drop_column('town_source')
