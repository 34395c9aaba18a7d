"""Intake: whether the help-seeker answered the one follow-up question after her callback (a
flag only; the answer itself leaves as an anonymous count, followup.answered.v1)."""

from opendeur.migrations_env import execute_script

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        "alter table questions add column followup_answered boolean not null default false;"
    )


def downgrade() -> None:
    execute_script("alter table questions drop column followup_answered;")
