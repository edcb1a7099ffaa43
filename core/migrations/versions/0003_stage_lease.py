"""stage_runs lease: the worker running a stage and its last heartbeat

A stage row in status `running` names the worker that claimed it and when that
worker last renewed its lease. A row whose heartbeat is older than
CALLQA_STAGE_LEASE_S belongs to a dead worker: any worker may claim it again.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stage_runs") as batch:
        batch.add_column(sa.Column("worker", sa.String(128)))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True)))
    op.create_index("ix_stage_runs_status", "stage_runs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_stage_runs_status", "stage_runs")
    with op.batch_alter_table("stage_runs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("worker")
