"""What practitioners weigh in the risk score, the review a bureau files, and the unit's letterhead

The dashboard's rows gain time to detect, update-cadence adherence and hoax/clarification reach.
The review gains the sections a bureau files. The issue gains the news tier and article count, sensitive subjects, who posts it or is named,
WhatsApp chain estimates and a disaster's impact; a monitoring note the sentiment judged at the
time (for the trend). Existing issues read their yes/no news pickup as national news or none.

Revision ID: 7c4d2e9a1b35
Revises: 5a0c3d9e7b21
Create Date: 2026-12-07 11:20:00

"""
import sqlalchemy as sa
from alembic import op

import crisis.dbtypes

# revision identifiers, used by Alembic.
revision = "7c4d2e9a1b35"
down_revision = "5a0c3d9e7b21"
branch_labels = None
depends_on = None

REVIEW_TEXTS = ("background", "legal_basis", "dominant_narrative", "top_accounts", "obstacles", "recommendations")
REVIEW_COUNTS = ("volume_before", "volume_after", "hoax_reach", "clarification_reach")


def upgrade():
    # One JSON object of risk inputs: nine columns would push the issue INSERT past what the driver
    # keeps converted. An issue without a news_tier reads its yes/no pickup as national news.
    with op.batch_alter_table("issue", schema=None) as batch_op:
        batch_op.add_column(sa.Column("risk_inputs", sa.JSON(), server_default="{}", nullable=False))
    with op.batch_alter_table("monitoring_note", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sentiment", sa.String(length=16), nullable=True))
    with op.batch_alter_table("review", schema=None) as batch_op:
        for name in REVIEW_TEXTS:
            batch_op.add_column(sa.Column(name, sa.Text(), server_default="", nullable=False))
        for name in REVIEW_COUNTS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))
        for name in ("tone_before", "tone_after"):
            batch_op.add_column(sa.Column(name, sa.String(length=16), server_default="", nullable=False))
        batch_op.add_column(sa.Column("attachments", sa.JSON(), server_default="[]", nullable=False))
    op.create_table(
        "unit_letterhead",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("institution", sa.String(length=300), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("logo_type", sa.String(length=16), nullable=False),
        sa.Column("updated_at", crisis.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("unit_id"),
    )
    # The dashboard's new measures; definition 5 makes the sweep recompute every row.
    with op.batch_alter_table("incident_measure", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ttd", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("upd_judged", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("upd_kept", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("hoax_reach", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("clar_reach", sa.BigInteger(), nullable=True))


def downgrade():
    op.drop_table("unit_letterhead")
    with op.batch_alter_table("incident_measure", schema=None) as batch_op:
        for name in ("clar_reach", "hoax_reach", "upd_kept", "upd_judged", "ttd"):
            batch_op.drop_column(name)
    with op.batch_alter_table("review", schema=None) as batch_op:
        for name in ("attachments", "tone_after", "tone_before", *REVIEW_COUNTS, *REVIEW_TEXTS):
            batch_op.drop_column(name)
    with op.batch_alter_table("monitoring_note", schema=None) as batch_op:
        batch_op.drop_column("sentiment")
    with op.batch_alter_table("issue", schema=None) as batch_op:
        batch_op.drop_column("risk_inputs")
