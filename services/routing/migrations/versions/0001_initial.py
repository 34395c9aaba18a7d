"""Routing: groups, contact persons (pseudonymous), questions in flight, timers; outbox and inbox."""

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
        create table groups (
            group_id text primary key,
            name text not null,
            status text not null default 'active' check (status in ('active', 'paused', 'left')),
            topics text[] not null default '{}',
            municipalities text[] not null default '{}',
            online boolean not null default false,
            languages text[] not null default '{nl}',
            description text,
            meeting text,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now()
        );
        create table contacts (
            contact_id text primary key,
            group_id text not null references groups (group_id),
            max_open integer not null check (max_open >= 0),
            hours jsonb not null default '[]',
            active boolean not null default true
        );
        create table questions (
            question_id uuid primary key,
            reference text not null,
            channel text not null,
            topic text,
            pc4 text,
            municipality text,
            language text not null,
            priority boolean not null,
            wants_to_start_group boolean not null default false,
            received_at timestamptz not null,
            respond_before timestamptz not null,
            state text not null,
            group_id text,
            contact_id text,
            attempt integer not null default 0,
            tried_groups text[] not null default '{}',
            unreachable_count integer not null default 0,
            reason text,
            updated_at timestamptz not null default now()
        );
        create index questions_open_by_contact on questions (contact_id) where state = 'routed';
        create index questions_triage on questions (priority desc, received_at) where state = 'unmatched';
        create table timers (
            question_id uuid not null references questions (question_id),
            level text not null,
            due_at timestamptz not null,
            fired_at timestamptz,
            primary key (question_id, level)
        );
        create index timers_due on timers (due_at) where fired_at is null;
        """
    )


def downgrade() -> None:
    execute_script("drop table timers, questions, contacts, groups, inbox, outbox")
