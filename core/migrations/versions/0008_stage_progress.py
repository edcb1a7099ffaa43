"""stage_runs.progress_s: seconds of audio a running transcription has done

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stage_runs", sa.Column("progress_s", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("stage_runs") as batch:
        batch.drop_column("progress_s")
