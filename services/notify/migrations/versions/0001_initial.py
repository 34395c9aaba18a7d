"""Notify: contact persons' delivery addresses (encrypted), the notification log; outbox and inbox."""

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
        create table contacts (
            contact_id text primary key,
            wrapped_key bytea not null,
            email bytea,
            mobile bytea,
            name bytea,
            channel text not null default 'email' check (channel in ('email', 'sms')),
            language text not null default 'nl',
            updated_at timestamptz not null default now()
        );
        create table notifications (
            question_id uuid not null,
            contact_id text not null,
            purpose text not null,
            status text not null check (status in ('claimed', 'sent', 'failed', 'uncertain')),
            channel text,
            attempts integer not null default 0,
            error_code text,
            claimed_at timestamptz not null default now(),
            sent_at timestamptz,
            primary key (question_id, contact_id, purpose)
        );
        """
    )


def downgrade() -> None:
    execute_script("drop table notifications, contacts, inbox, outbox")
