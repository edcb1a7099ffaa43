"""calls and stage runs

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("source_name", sa.String(512), nullable=False),
        sa.Column("audio_key", sa.String(512), nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("channels", sa.Integer, nullable=False),
        sa.Column("sample_rate", sa.Integer, nullable=False),
        sa.Column("codec", sa.String(64), nullable=False),
        sa.Column("container", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(128)),
        sa.Column("team", sa.String(128)),
        sa.Column("customer_id", sa.String(128)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("direction", sa.String(16)),
        sa.Column("channel_map", sa.JSON),
        sa.Column("language", sa.String(16)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_calls_sha256", "calls", ["sha256"], unique=True)
    for col in ("agent_id", "team", "customer_id", "started_at", "status"):
        op.create_index(f"ix_calls_{col}", "calls", [col])
    op.create_table(
        "stage_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(128), sa.ForeignKey("calls.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.String(64)),
        sa.Column("output_key", sa.String(512)),
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("seconds", sa.Float),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("call_id", "stage", name="uq_stage_runs_call_stage"),
    )
    op.create_index("ix_stage_runs_call_id", "stage_runs", ["call_id"])


def downgrade() -> None:
    op.drop_table("stage_runs")
    op.drop_table("calls")
