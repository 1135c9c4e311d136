"""Statements sent back with a reason: who returned a statement, when, and why

Revision ID: 3e1f7a2c9b10
Revises: 93b754b8e04c
Create Date: 2026-12-07 10:30:00

"""
import sqlalchemy as sa
from alembic import op

import crisis.dbtypes

# revision identifiers, used by Alembic.
revision = "3e1f7a2c9b10"
down_revision = "93b754b8e04c"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("statement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("returned_at", crisis.dbtypes.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("returned_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("return_reason", sa.Text(), server_default="", nullable=False))
        batch_op.create_foreign_key("fk_statement_returned_by_id_user", "user", ["returned_by_id"], ["id"])


def downgrade():
    with op.batch_alter_table("statement", schema=None) as batch_op:
        batch_op.drop_constraint("fk_statement_returned_by_id_user", type_="foreignkey")
        batch_op.drop_column("return_reason")
        batch_op.drop_column("returned_by_id")
        batch_op.drop_column("returned_at")
