"""evaluations and their answers: calls scored on evaluation forms (QA scorecards)

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(128), sa.ForeignKey("calls.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("form_id", sa.String(64), nullable=False),
        sa.Column("form_version", sa.Integer, nullable=False),
        sa.Column("form_hash", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("reviewer", sa.String(128), nullable=False),
        sa.Column("analysis_version", sa.String(128)),
        sa.Column("score", sa.Float),
        sa.Column("submitted_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("call_id", "form_id", "reviewer",
                            name="uq_evaluations_call_form_reviewer"),
    )
    op.create_index("ix_evaluations_call_id", "evaluations", ["call_id"])
    op.create_index("ix_evaluations_form_id", "evaluations", ["form_id"])
    op.create_index("ix_evaluations_updated_at", "evaluations", ["updated_at"])
    op.create_table(
        "evaluation_answers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("evaluation_id", sa.Integer,
                  sa.ForeignKey("evaluations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("question_id", sa.String(64), nullable=False),
        sa.Column("value", sa.String(4)),
        sa.Column("evidence", sa.JSON),
        sa.Column("comment", sa.Text),
        sa.Column("answered_by", sa.String(128)),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("evaluation_id", "question_id", name="uq_evaluation_answers_question"),
    )
    op.create_index("ix_evaluation_answers_evaluation_id", "evaluation_answers",
                    ["evaluation_id"])


def downgrade() -> None:
    op.drop_index("ix_evaluation_answers_evaluation_id", "evaluation_answers")
    op.drop_table("evaluation_answers")
    op.drop_index("ix_evaluations_updated_at", "evaluations")
    op.drop_index("ix_evaluations_form_id", "evaluations")
    op.drop_index("ix_evaluations_call_id", "evaluations")
    op.drop_table("evaluations")
