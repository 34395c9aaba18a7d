"""Intake: the help-seeker's own SMS with her reference and withdraw link (issue 15, item 7),
only when she ticked it. The text is sealed with the question's data key (it holds the withdraw
token, which is otherwise only stored hashed); the number is the question's own, in
question_pii. A row goes with its question's erasure; the text is cleared once sent or given up."""

from opendeur.migrations_env import execute_script

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        create table sms_confirmations (
            question_id uuid primary key references questions (question_id) on delete cascade,
            text bytea,
            status text not null default 'queued'
                check (status in ('queued', 'sending', 'sent', 'failed')),
            attempts integer not null default 0,
            next_attempt_at timestamptz not null,
            finished_at timestamptz,
            last_error text
        );
        create index sms_confirmations_due on sms_confirmations (next_attempt_at)
            where status in ('queued', 'sending');
        """
    )


def downgrade() -> None:
    execute_script("drop table sms_confirmations;")
