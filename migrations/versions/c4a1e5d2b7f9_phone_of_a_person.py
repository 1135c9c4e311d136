"""A person's phone number (people imported in bulk from a CSV)

The duty officer on call is reached by phone as much as by e-mail; `crisis users import` and the
admins' upload page carry it. Empty for everyone already present.

Revision ID: c4a1e5d2b7f9
Revises: af93b947af09
Create Date: 2026-12-07 10:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4a1e5d2b7f9'
down_revision = 'af93b947af09'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=32), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('phone')
