"""help requests: remember a failed on-duty notification

Revision ID: 0401_help_notify_failed
Revises: 0400_help
Create Date: 2026-12-02 10:00:00
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '0401_help_notify_failed'
down_revision = '0400_help'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('help_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('staff_notify_failed_at', models.base.AwareDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('help_requests', schema=None) as batch_op:
        batch_op.drop_column('staff_notify_failed_at')
