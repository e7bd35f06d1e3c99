"""followers: remember a blocked 模板消息 and a refused 客服消息 (issue 15, items 9 and 10)

Revision ID: 0302_reminders_send_refusals
Revises: 0300_reminders
Create Date: 2026-12-06 07:00:00
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '0302_reminders_send_refusals'
down_revision = '0300_reminders'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('followers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('template_blocked_at', models.base.AwareDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('custom_refused_at', models.base.AwareDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('followers', schema=None) as batch_op:
        batch_op.drop_column('custom_refused_at')
        batch_op.drop_column('template_blocked_at')
