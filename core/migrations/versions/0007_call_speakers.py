"""calls.speakers: a known speaker count (mono diarization), set by reprocess

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("speakers", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("speakers")
