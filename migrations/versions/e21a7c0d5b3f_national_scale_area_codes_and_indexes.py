"""National scale: the Kemendagri code a unit carries; indexes for a country's pages

A hand-made unit (the demo's JATENG) carries its area's Kemendagri code (33), so `crisis units
import-indonesia` finds it instead of adding Jawa Tengah a second time. Units whose own code is a
Kemendagri code (those the import made) carry it too.

Partial indexes for what every page of a national desk asks (the header's "waiting for me" count,
the situation room's overdue stages, the console's soonest deadlines): the running stages, the
statements and draft reviews that wait for someone, open items by assignee, incidents by commander.
Each holds the few thousand live rows among hundreds of thousands of finished ones.

Revision ID: e21a7c0d5b3f
Revises: 624e403003f7
Create Date: 2026-12-07 13:00:00.000000

"""
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e21a7c0d5b3f'
down_revision = '624e403003f7'
branch_labels = None
depends_on = None

KEMENDAGRI_CODE = re.compile(r"^\d{2}(\.\d{2})?$")


def upgrade():
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('area_code', sa.String(length=8), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_unit_area_code'), ['area_code'])
    unit = sa.table('unit', sa.column('id', sa.Integer), sa.column('code', sa.String), sa.column('area_code', sa.String))
    conn = op.get_bind()
    for unit_id, code in conn.execute(sa.select(unit.c.id, unit.c.code)).all():
        if KEMENDAGRI_CODE.match(code):
            conn.execute(sa.update(unit).where(unit.c.id == unit_id).values(area_code=code))


    op.create_index('ix_incident_commander_id', 'incident', ['commander_id'], unique=False)
    op.create_index(
        'ix_incident_running', 'incident', ['unit_id', 'severity'], unique=False,
        postgresql_include=['id', 'playbook_version_id', 'commander_id', 'started_at', 'last_update_at', 'exercise_id'],
        postgresql_where=sa.text("state = 'active'"), sqlite_where=sa.text("state = 'active'"),
    )
    op.create_index(
        'ix_stage_run_running', 'stage_run', ['incident_id', 'due_at'], unique=False, postgresql_include=['id'],
        postgresql_where=sa.text("state = 'active'"), sqlite_where=sa.text("state = 'active'"),
    )
    open_assigned = "done_at IS NULL AND waived_at IS NULL AND assignee_id IS NOT NULL"
    op.create_index(
        'ix_checklist_entry_open_assignee', 'checklist_entry', ['assignee_id'], unique=False,
        postgresql_where=sa.text(open_assigned), sqlite_where=sa.text(open_assigned),
    )
    waiting = "state IN ('draft', 'submitted', 'returned')"
    op.create_index(
        'ix_statement_waiting', 'statement', ['incident_id'], unique=False,
        postgresql_where=sa.text(waiting), sqlite_where=sa.text(waiting),
    )
    op.create_index(
        'ix_review_draft', 'review', ['incident_id'], unique=False, postgresql_include=['id'],
        postgresql_where=sa.text("state = 'draft'"), sqlite_where=sa.text("state = 'draft'"),
    )

    open_unassigned = "assignee_id IS NULL AND done_at IS NULL AND waived_at IS NULL"
    op.create_index(
        'ix_checklist_entry_open_unassigned', 'checklist_entry', ['stage_run_id', 'owner_role'], unique=False,
        postgresql_where=sa.text(open_unassigned), sqlite_where=sa.text(open_unassigned),
    )
    unacked = "kind = 'escalation_step' AND state = 'fired' AND acknowledged_at IS NULL"
    op.create_index(
        'ix_timer_unacked_step', 'timer', ['incident_id'], unique=False,
        postgresql_where=sa.text(unacked), sqlite_where=sa.text(unacked),
    )
    key_messages = "kind = 'key_messages' AND state IN ('approved', 'published')"
    op.create_index(
        'ix_statement_key_messages', 'statement', ['incident_id', 'id'], unique=False,
        postgresql_where=sa.text(key_messages), sqlite_where=sa.text(key_messages),
    )

    open_issue = "state IN ('new', 'monitoring')"
    op.create_index(
        'ix_issue_open_risk', 'issue', ['risk_score', 'created_at', 'id'], unique=False,
        postgresql_where=sa.text(open_issue), sqlite_where=sa.text(open_issue),
    )


def downgrade():
    for name, table in (
        ('ix_issue_open_risk', 'issue'),
        ('ix_statement_key_messages', 'statement'),
        ('ix_timer_unacked_step', 'timer'),
        ('ix_checklist_entry_open_unassigned', 'checklist_entry'),
        ('ix_review_draft', 'review'),
        ('ix_statement_waiting', 'statement'),
        ('ix_checklist_entry_open_assignee', 'checklist_entry'),
        ('ix_stage_run_running', 'stage_run'),
        ('ix_incident_running', 'incident'),
        ('ix_incident_commander_id', 'incident'),
    ):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_unit_area_code'), type_='unique')
        batch_op.drop_column('area_code')
