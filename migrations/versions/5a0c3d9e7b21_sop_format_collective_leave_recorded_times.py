"""SOP format: collective leave days (cuti bersama) for targets in working days; the time a
checklist item records (a target anchored to it); the windows of repeating stages (cycle_run)

Revision ID: 5a0c3d9e7b21
Revises: c4a1e5d2b7f9
Create Date: 2026-12-07 11:20:00

"""
from alembic import op
import sqlalchemy as sa

import crisis.dbtypes


# revision identifiers, used by Alembic.
revision = '5a0c3d9e7b21'
down_revision = 'c4a1e5d2b7f9'
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
    op.create_table(
        'cycle_run',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('stage_run_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('started_at', crisis.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column('due_at', crisis.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', crisis.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['stage_run_id'], ['stage_run.id'], name=op.f('fk_cycle_run_stage_run_id_stage_run')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cycle_run')),
        sa.UniqueConstraint('stage_run_id', 'number', name=op.f('uq_cycle_run_stage_run_id_number')),
    )
    with op.batch_alter_table('cycle_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cycle_run_stage_run_id'), ['stage_run_id'], unique=False)
    with op.batch_alter_table('checklist_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recorded_at', crisis.dbtypes.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('checklist_entry', schema=None) as batch_op:
        batch_op.drop_column('recorded_at')
    with op.batch_alter_table('cycle_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cycle_run_stage_run_id'))
    op.drop_table('cycle_run')
    op.drop_table('collective_leave')
