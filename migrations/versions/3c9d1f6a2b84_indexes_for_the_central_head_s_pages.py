"""Indexes for the central head's pages: submitted reviews, open incidents in order, running stages' positions

Only a handful of reviews wait for approval among the tens of thousands written; without its own
index the header's count walked the whole (due_at, state) index to find none. The console shows the
first 50 running incidents, most severe and oldest first: read in that order, not sorted out of all.
Its soonest stage deadlines name each stage: the running stages' index carries their position, so
they are read from the index alone, not from a few thousand pages of the stage_run table.

Revision ID: 3c9d1f6a2b84
Revises: e21a7c0d5b3f
Create Date: 2026-12-10 16:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3c9d1f6a2b84'
down_revision = 'e21a7c0d5b3f'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_stage_run_running', table_name='stage_run', postgresql_where=sa.text("state = 'active'"), sqlite_where=sa.text("state = 'active'"))
    op.create_index(
        'ix_stage_run_running', 'stage_run', ['incident_id', 'due_at'], unique=False, postgresql_include=['id', 'position'],
        postgresql_where=sa.text("state = 'active'"), sqlite_where=sa.text("state = 'active'"),
    )
    op.create_index(
        'ix_review_submitted', 'review', ['due_at'], unique=False, postgresql_include=['id'],
        postgresql_where=sa.text("state = 'submitted'"), sqlite_where=sa.text("state = 'submitted'"),
    )
    op.create_index(
        'ix_incident_open_order', 'incident', [sa.text('severity DESC'), 'started_at', 'id'], unique=False,
        postgresql_where=sa.text("state = 'active'"), sqlite_where=sa.text("state = 'active'"),
    )


def downgrade():
    op.drop_index('ix_incident_open_order', table_name='incident')
    op.drop_index('ix_review_submitted', table_name='review')
    op.drop_index('ix_stage_run_running', table_name='stage_run', postgresql_where=sa.text("state = 'active'"), sqlite_where=sa.text("state = 'active'"))
    op.create_index(
        'ix_stage_run_running', 'stage_run', ['incident_id', 'due_at'], unique=False, postgresql_include=['id'],
        postgresql_where=sa.text("state = 'active'"), sqlite_where=sa.text("state = 'active'"),
    )
