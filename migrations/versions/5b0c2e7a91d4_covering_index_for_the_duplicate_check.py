"""Covering index for the duplicate check, and prompt vacuuming of the issue table

The duplicate check reads the 500 newest open issues of a unit with their titles. Through
`ix_issue_unit_created` alone that visited one heap page per row (issues of all units are
interleaved): ~1.8 ms of PostgreSQL per logged issue. With the columns it reads included, the scan
is index-only (0.1 ms) wherever the visibility map is set; vacuuming the issue table every 1,000
inserts, instead of at a fifth of its size, keeps that true for all but the newest rows.

Revision ID: 5b0c2e7a91d4
Revises: dcf5647dcd03
Create Date: 2026-11-26 18:30:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "5b0c2e7a91d4"
down_revision = "dcf5647dcd03"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("issue", schema=None) as batch_op:
        batch_op.drop_index("ix_issue_unit_created")
        batch_op.create_index(
            "ix_issue_unit_created",
            ["unit_id", "created_at"],
            unique=False,
            postgresql_include=["id", "state", "updated_at", "title"],
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE issue SET (autovacuum_vacuum_insert_threshold = 1000, "
            "autovacuum_vacuum_insert_scale_factor = 0)"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE issue RESET (autovacuum_vacuum_insert_threshold, autovacuum_vacuum_insert_scale_factor)")
    with op.batch_alter_table("issue", schema=None) as batch_op:
        batch_op.drop_index("ix_issue_unit_created")
        batch_op.create_index("ix_issue_unit_created", ["unit_id", "created_at"], unique=False)
