"""staff users: one-time WeChat binding code (issue 16 item 8)

Revision ID: 0501_staff_bind_code
Revises: 0500_console
Create Date: 2026-12-06 07:00:00
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '0501_staff_bind_code'
down_revision = '0500_console'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bind_code_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('bind_code_expires_at', models.base.AwareDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_staff_users_bind_code_hash'), ['bind_code_hash'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_users_bind_code_hash'))
        batch_op.drop_column('bind_code_expires_at')
        batch_op.drop_column('bind_code_hash')
