"""SOP format: collective leave days (cuti bersama) for targets in working days; the time a
checklist item records (a target anchored to it)

Revision ID: 5a0c3d9e7b21
Revises: 3e1f7a2c9b10
Create Date: 2026-12-07 11:20:00

"""
from alembic import op
import sqlalchemy as sa

import crisis.dbtypes


# revision identifiers, used by Alembic.
revision = '5a0c3d9e7b21'
down_revision = '3e1f7a2c9b10'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'collective_leave',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('created_at', crisis.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_collective_leave')),
        sa.UniqueConstraint('day', name=op.f('uq_collective_leave_day')),
    )
    with op.batch_alter_table('checklist_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recorded_at', crisis.dbtypes.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('checklist_entry', schema=None) as batch_op:
        batch_op.drop_column('recorded_at')
    op.drop_table('collective_leave')
