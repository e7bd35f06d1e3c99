"""intents: unmatched messages, staff-taught examples, model version

Revision ID: 1400_intents
Revises: 0001_core
Create Date: 2026-12-06 06:45:00
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '1400_intents'
down_revision = '0001_core'
branch_labels = ('intents',)
depends_on = None


def upgrade() -> None:
    op.create_table('intent_unmatched',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(length=200), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('first_seen', models.base.AwareDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', models.base.AwareDateTime(timezone=True), nullable=False),
    sa.Column('guess', sa.String(length=32), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('intent', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intent_unmatched')),
    sa.UniqueConstraint('text', name=op.f('uq_intent_unmatched_text'))
    )
    with op.batch_alter_table('intent_unmatched', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intent_unmatched_last_seen'), ['last_seen'], unique=False)
        batch_op.create_index(batch_op.f('ix_intent_unmatched_status'), ['status'], unique=False)
    op.create_table('intent_examples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('intent', sa.String(length=32), nullable=False),
    sa.Column('staff', sa.String(length=64), nullable=False),
    sa.Column('created_at', models.base.AwareDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intent_examples'))
    )
    op.create_table('intent_model_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', models.base.AwareDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intent_model_version'))
    )


def downgrade() -> None:
    op.drop_table('intent_model_version')
    op.drop_table('intent_examples')
    with op.batch_alter_table('intent_unmatched', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intent_unmatched_status'))
        batch_op.drop_index(batch_op.f('ix_intent_unmatched_last_seen'))
    op.drop_table('intent_unmatched')
