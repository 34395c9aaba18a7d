"""Notify: the notification log becomes a durable delivery queue (retries, backoff); breaches for the daily digest."""

from opendeur.migrations_env import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        alter table notifications drop constraint notifications_status_check;
        update notifications set status = 'sending' where status = 'claimed';
        alter table notifications
            add constraint notifications_status_check
                check (status in ('queued', 'sending', 'sent', 'failed', 'uncertain')),
            add column kind text not null default 'new_question',
            add column payload jsonb not null default '{}'::jsonb,
            add column next_attempt_at timestamptz not null default now(),
            add column last_error text;
        create index notifications_due on notifications (next_attempt_at) where status = 'queued';
        create index notifications_sending on notifications (claimed_at) where status = 'sending';
        create table breaches (
            question_id uuid primary key,
            reference text not null,
            respond_before timestamptz not null,
            recorded_at timestamptz not null default now(),
            digest_day date
        );
        create table digests (
            day date primary key,
            questions integer not null,
            sent_at timestamptz not null default now()
        );
        """
    )


def downgrade() -> None:
    execute_script(
        """
        drop table digests, breaches;
        drop index notifications_due, notifications_sending;
        alter table notifications drop column kind, drop column payload,
            drop column next_attempt_at, drop column last_error;
        alter table notifications drop constraint notifications_status_check;
        update notifications set status = 'claimed' where status in ('queued', 'sending');
        alter table notifications add constraint notifications_status_check
            check (status in ('claimed', 'sent', 'failed', 'uncertain'));
        """
    )
