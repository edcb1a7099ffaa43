"""assignments: the review queue (who reviews a call, and the review's status)

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assignments",
        sa.Column("call_id", sa.String(128), sa.ForeignKey("calls.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("assignee", sa.String(128)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assigned_by", sa.String(128)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_assignments_assignee", "assignments", ["assignee"])


def downgrade() -> None:
    op.drop_index("ix_assignments_assignee", "assignments")
    op.drop_table("assignments")
