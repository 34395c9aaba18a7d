"""Intake: questions, their encrypted personal data, users; outbox and inbox."""

from opendeur.migrations_env import execute_script
from opendeur.outbox import TABLES_SQL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(TABLES_SQL)
    execute_script(
        """
        create table questions (
            question_id uuid primary key,
            reference text not null unique,
            withdraw_token_hash bytea not null,
            channel text not null,
            topic text,
            pc4 text,
            language text not null,
            consent_version text not null,
            consent_at timestamptz not null,
            consent_share boolean not null,
            consent_statistics boolean not null,
            professional_help_advised boolean not null,
            wants_to_start_group boolean not null,
            received_at timestamptz not null,
            respond_before timestamptz not null,
            status text not null default 'received',
            contact_id text,
            group_id text,
            outcome text,
            outcome_at timestamptz,
            erase_after timestamptz,
            erased_at timestamptz,
            erase_reason text
        );
        create index questions_erase_due on questions (erase_after) where erased_at is null;
        create table question_pii (
            question_id uuid primary key references questions (question_id) on delete cascade,
            wrapped_key bytea not null,
            phone bytea not null,
            story bytea,
            call_times bytea
        );
        """
    )


def downgrade() -> None:
    execute_script(
        "drop table question_pii; drop table questions; drop table inbox; drop table outbox;"
    )
