"""activities: recurring activities (the monthly 爱心义剪) and the seed's one

Revision ID: 0201_activities_recurring
Revises: 0200_activities
Create Date: 2026-12-06

Creates ``recurring_activities``, links each activity to the recurring one it was made from
(``recurring_id`` + ``occurrence`` month, unique together), and ships the seed article's
爱心义剪 (every 17th, 09:00, 巾帼义务理发服务队 of 助困公益协会妇联) with an empty capacity, so
its seats come from ``[activities] haircut_seats``. Inserted once, here: a fresh install has
it, and it never comes back after staff delete it.
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
import models.base


revision = '0201_activities_recurring'
down_revision = '0200_activities'
branch_labels = None
depends_on = ('0101_points_seed',)


def upgrade() -> None:
    table = op.create_table('recurring_activities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('start_time', sa.String(length=5), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('volunteers_needed', sa.Integer(), nullable=False),
    sa.Column('place', sa.String(length=128), nullable=False),
    sa.Column('point_id', sa.Integer(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('lead_days', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('made_through', sa.String(length=7), nullable=True),
    sa.Column('created_at', models.base.AwareDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['point_id'], ['service_points.id'], name=op.f('fk_recurring_activities_point_id_service_points'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recurring_activities'))
    )
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recurring_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('occurrence', sa.String(length=7), nullable=True))
        batch_op.create_index(batch_op.f('ix_activities_recurring_id'), ['recurring_id'], unique=False)
        batch_op.create_unique_constraint('uq_activities_recurring_id_occurrence', ['recurring_id', 'occurrence'])
        batch_op.create_foreign_key(batch_op.f('fk_activities_recurring_id_recurring_activities'), 'recurring_activities', ['recurring_id'], ['id'], ondelete='SET NULL')

    bind = op.get_bind()
    point = bind.execute(sa.text("SELECT id FROM service_points WHERE name = :n ORDER BY id"),
                         {"n": "助困公益协会妇联"}).scalar()
    op.bulk_insert(table, [{
        "title": "爱心义剪", "category": "爱心义剪", "day": 17, "start_time": "09:00",
        "minutes": 180, "capacity": None, "volunteers_needed": 0,
        "place": "助困公益协会妇联（巾帼义务理发服务队）", "point_id": point,
        "description": "巾帼义务理发服务队每月17日爱心义剪，免费为大家理发。",
        "lead_days": 31, "active": True, "made_through": None,
        "created_at": datetime.now(timezone.utc)}])


def downgrade() -> None:
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_activities_recurring_id_recurring_activities'), type_='foreignkey')
        batch_op.drop_constraint('uq_activities_recurring_id_occurrence', type_='unique')
        batch_op.drop_index(batch_op.f('ix_activities_recurring_id'))
        batch_op.drop_column('occurrence')
        batch_op.drop_column('recurring_id')
    op.drop_table('recurring_activities')
