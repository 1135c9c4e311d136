"""media desk: media_query table, timer.media_query_id, the media_query timer kind, media measures

Revision ID: 9f4899150833
Revises: a1a05b4e3783
Create Date: 2026-12-07 12:50:16.455819

"""
from alembic import op
import sqlalchemy as sa

import crisis.dbtypes


# revision identifiers, used by Alembic.
revision = '9f4899150833'
down_revision = 'a1a05b4e3783'
branch_labels = None
depends_on = None

KINDS_BEFORE = "kind IN ('stage_due','escalation_step','update_due','review_due','inject')"
KINDS_AFTER = "kind IN ('stage_due','escalation_step','update_due','review_due','inject','media_query')"


def upgrade():
    op.create_table('media_query',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('journalist', sa.String(length=200), nullable=False),
    sa.Column('outlet', sa.String(length=200), nullable=False),
    sa.Column('outlet_type', sa.String(length=24), nullable=False),
    sa.Column('channel', sa.String(length=24), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('journalist_deadline', crisis.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_at', crisis.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', crisis.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('logged_by_id', sa.Integer(), nullable=False),
    sa.Column('logged_at', crisis.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('assigned_at', crisis.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('answer_kind', sa.String(length=16), nullable=True),
    sa.Column('statement_id', sa.Integer(), nullable=True),
    sa.Column('answer_text', sa.Text(), server_default='', nullable=False),
    sa.Column('answer_drafted_by_id', sa.Integer(), nullable=True),
    sa.Column('answer_approved_by_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', crisis.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('decline_reason', sa.Text(), server_default='', nullable=False),
    sa.Column('holding_line', sa.Text(), server_default='', nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['answer_approved_by_id'], ['user.id'], name=op.f('fk_media_query_answer_approved_by_id_user')),
    sa.ForeignKeyConstraint(['answer_drafted_by_id'], ['user.id'], name=op.f('fk_media_query_answer_drafted_by_id_user')),
    sa.ForeignKeyConstraint(['answered_by_id'], ['user.id'], name=op.f('fk_media_query_answered_by_id_user')),
    sa.ForeignKeyConstraint(['assignee_id'], ['user.id'], name=op.f('fk_media_query_assignee_id_user')),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_media_query_incident_id_incident')),
    sa.ForeignKeyConstraint(['logged_by_id'], ['user.id'], name=op.f('fk_media_query_logged_by_id_user')),
    sa.ForeignKeyConstraint(['statement_id'], ['statement.id'], name=op.f('fk_media_query_statement_id_statement')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_media_query'))
    )
    with op.batch_alter_table('media_query', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_media_query_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_media_query_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index('ix_media_query_state_due', ['state', 'due_at'], unique=False)

    with op.batch_alter_table('timer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('media_query_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_timer_media_query_id'), ['media_query_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_timer_media_query_id_media_query'), 'media_query', ['media_query_id'], ['id'])
        # A new timer kind: a journalist's question past its answer target.
        batch_op.drop_constraint(op.f('ck_timer_kind'), type_='check')
        batch_op.create_check_constraint('kind', KINDS_AFTER)

    # The evaluation's per-incident rows: media queries judged and answered on time.
    with op.batch_alter_table('incident_measure', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mq_judged', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('mq_on_time', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('incident_measure', schema=None) as batch_op:
        batch_op.drop_column('mq_on_time')
        batch_op.drop_column('mq_judged')

    op.execute("DELETE FROM timer WHERE kind = 'media_query'")
    with op.batch_alter_table('timer', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_timer_kind'), type_='check')
        batch_op.create_check_constraint('kind', KINDS_BEFORE)
        batch_op.drop_constraint(batch_op.f('fk_timer_media_query_id_media_query'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_timer_media_query_id'))
        batch_op.drop_column('media_query_id')

    with op.batch_alter_table('media_query', schema=None) as batch_op:
        batch_op.drop_index('ix_media_query_state_due')
        batch_op.drop_index(batch_op.f('ix_media_query_incident_id'))
        batch_op.drop_index(batch_op.f('ix_media_query_assignee_id'))

    op.drop_table('media_query')
