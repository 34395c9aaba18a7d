"""Audit: one covering index per question, so per-question timings read the index alone."""

from opendeur.migrations_env import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The timings read every event of each question in a window (a lateral aggregate per
    # question): with type in the index they are index-only scans, no heap visit per event.
    # It also serves events_for (question_id, ordered by occurred_at), so it replaces the old one.
    execute_script(
        """
        create index events_question_cover on events (question_id, occurred_at, seq)
            include (type) where question_id is not null;
        drop index events_question;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        create index events_question on events (question_id, occurred_at)
            where question_id is not null;
        drop index events_question_cover;
        """
    )
