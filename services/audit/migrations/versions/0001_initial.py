"""Audit: the append-only, hash-chained event log (allow-listed fields only); inbox unused, outbox unused."""

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
        create table events (
            seq bigint primary key,
            event_id uuid not null unique,
            type text not null,
            question_id uuid,
            occurred_at timestamptz not null,
            recorded_at timestamptz not null default now(),
            record jsonb not null,
            prev_hash text not null,
            hash text not null
        );
        create index events_question on events (question_id, occurred_at) where question_id is not null;
        create index events_type_time on events (type, occurred_at);
        -- Append-only: the audit role may insert and read, never change or delete.
        create function events_append_only() returns trigger language plpgsql as $$
        begin raise exception 'audit events are append-only'; end $$;
        create trigger events_no_update before update or delete on events
            for each row execute function events_append_only();
        """
    )


def downgrade() -> None:
    execute_script("drop table events, inbox, outbox; drop function events_append_only")
