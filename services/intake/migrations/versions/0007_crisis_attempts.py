"""Intake: a team member's tries to call back a crisis question (who by staff id, when, what
came of it; nothing personal), and when each staff account last signed in (the accounts page)."""

from opendeur.migrations_env import execute_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        create table crisis_attempts (
            id bigserial primary key,
            question_id uuid not null references questions (question_id) on delete cascade,
            staff_id text not null,
            outcome text not null,
            at timestamptz not null
        );
        create index crisis_attempts_question on crisis_attempts (question_id);
        alter table users add column last_signin_at timestamptz;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        alter table users drop column last_signin_at;
        drop table crisis_attempts;
        """
    )
