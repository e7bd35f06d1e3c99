"""outbound: messages sent after the response by the outbox worker; handled messages (issue 15)

Revision ID: 0600_outbound
Revises: 0001_core
Create Date: 2026-12-06 07:00:00
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '0600_outbound'
down_revision = '0001_core'
branch_labels = ('outbound',)
depends_on = None


def upgrade() -> None:
    op.create_table('outbound',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', models.base.AwareDateTime(timezone=True), nullable=False),
    sa.Column('done_at', models.base.AwareDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound')),
    sa.UniqueConstraint('key', name=op.f('uq_outbound_key'))
    )
    with op.batch_alter_table('outbound', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_openid'), ['openid'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbound_state'), ['state'], unique=False)

    op.create_table('handled_messages',
    sa.Column('dedup_key', sa.String(length=200), nullable=False),
    sa.Column('reply', sa.Text(), nullable=False),
    sa.Column('handled_at', models.base.AwareDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('dedup_key', name=op.f('pk_handled_messages'))
    )
    with op.batch_alter_table('handled_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handled_messages_handled_at'), ['handled_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('handled_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handled_messages_handled_at'))
    op.drop_table('handled_messages')
    with op.batch_alter_table('outbound', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_state'))
        batch_op.drop_index(batch_op.f('ix_outbound_openid'))
    op.drop_table('outbound')
