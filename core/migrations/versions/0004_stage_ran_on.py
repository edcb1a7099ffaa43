"""stage_runs.ran_on: the worker that ran a finished stage

`worker` is the live lease holder and is cleared once the next stage is queued;
`ran_on` keeps the worker (host:pid:run) of the last finished attempt, for the
operator views (`callqa status`, GET /calls/{id}).

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stage_runs") as batch:
        batch.add_column(sa.Column("ran_on", sa.String(128)))


def downgrade() -> None:
    with op.batch_alter_table("stage_runs") as batch:
        batch.drop_column("ran_on")
