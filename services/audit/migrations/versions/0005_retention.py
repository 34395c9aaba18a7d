"""Audit: its own retention. Whole months past it are pruned; monthly aggregates and an anchor stay.

`audit_prune(cutoff)` is the one way events leave the trail: it refuses a cutoff that is not the
first instant of a month (UTC) or is less than 90 days ago (the broker may still redeliver or
replay younger events), and months without their aggregates kept. It records an anchor (the seq
and hash of the last pruned event) and deletes the prefix of the chain up to it; `verify` starts
from the anchor. The append-only trigger lets a delete through only inside that function (a
transaction-local flag) and only for rows an anchor covers; anchors and aggregates can be added,
never changed or removed. question_times is recomputed for the questions concerned, so it stays
what `question_times_rebuild()` gives.
"""

import importlib

from opendeur.migrations_env import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_times = importlib.import_module("services.audit.migrations.versions.0004_question_times")
FLOOR = "90 days"  # opendeur.settings.AUDIT_RETENTION_FLOOR_DAYS


def upgrade() -> None:
    affected = "(select * from events where question_id = any(affected)) e"
    execute_script(
        f"""
        create table monthly_aggregates (
            month date primary key check (extract(day from month) = 1),
            counts jsonb not null,   -- store.monthly_counts, before suppression
            stats jsonb not null,    -- queries.timings' per-topic rows of the month
            kept_at timestamptz not null default now()
        );
        create table chain_anchors (
            seq bigint primary key,
            hash text not null,
            pruned_before timestamptz not null,
            events bigint not null,
            pruned_at timestamptz not null default now()
        );

        create function audit_kept_only() returns trigger language plpgsql as $$
        begin
            if tg_op = 'INSERT' and tg_table_name = 'chain_anchors'
               and current_setting('opendeur.audit_prune', true) is distinct from 'on' then
                raise exception 'chain anchors are written by audit_prune() only';
            end if;
            if tg_op = 'INSERT' then return new; end if;
            raise exception '% rows are kept, never changed', tg_table_name;
        end $$;
        create trigger anchors_kept before insert or update or delete on chain_anchors
            for each row execute function audit_kept_only();
        create trigger aggregates_kept before update or delete on monthly_aggregates
            for each row execute function audit_kept_only();

        create or replace function events_append_only() returns trigger language plpgsql as $$
        begin
            if tg_op = 'DELETE' and current_setting('opendeur.audit_prune', true) = 'on'
               and exists (select 1 from chain_anchors a
                           where a.seq >= old.seq and a.pruned_before > old.occurred_at) then
                return old;
            end if;
            raise exception 'audit events are append-only';
        end $$;

        create function audit_prune(cutoff timestamptz)
            returns table (anchor_seq bigint, pruned bigint, questions bigint)
            language plpgsql as $$
        declare
            last_seq bigint;
            prev_seq bigint;
            last_hash text;
            n bigint;
            missing text;
            affected uuid[];
        begin
            if cutoff <> date_trunc('month', cutoff, 'UTC') then
                raise exception 'audit_prune: the cutoff must be the first instant of a month (UTC)';
            end if;
            if cutoff > now() - interval '{FLOOR}' then
                raise exception 'audit_prune: the trail is kept at least {FLOOR}';
            end if;
            perform pg_advisory_xact_lock(7401);  -- store.CHAIN_LOCK: no append meanwhile
            prev_seq := coalesce((select max(a.seq) from chain_anchors a), 0);
            -- A prefix of the chain: up to the first event that occurred on or after the cutoff.
            last_seq := coalesce((select min(e.seq) from events e where e.occurred_at >= cutoff),
                                 (select max(e.seq) + 1 from events e), 1) - 1;
            if last_seq <= prev_seq then
                return query select prev_seq, 0::bigint, 0::bigint;
                return;
            end if;
            select string_agg(m, ', ' order by m) into missing from (
                select distinct to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM') as m
                from events e where e.seq > prev_seq and e.seq <= last_seq
            ) months
            where not exists (select 1 from monthly_aggregates g
                              where g.month = to_date(months.m, 'YYYY-MM'));
            if missing is not null then
                raise exception 'audit_prune: no monthly aggregates kept for %', missing;
            end if;
            select e.hash into last_hash from events e where e.seq = last_seq;
            if last_hash is null then
                raise exception 'audit_prune: event % is missing; verify the chain first', last_seq;
            end if;
            select count(*), array_agg(distinct e.question_id)
                filter (where e.question_id is not null)
              into n, affected
              from events e where e.seq > prev_seq and e.seq <= last_seq;
            perform set_config('opendeur.audit_prune', 'on', true);
            insert into chain_anchors (seq, hash, pruned_before, events)
                values (last_seq, last_hash, cutoff, n);
            delete from events e where e.seq > prev_seq and e.seq <= last_seq;
            perform set_config('opendeur.audit_prune', 'off', true);
            affected := coalesce(affected, '{{}}');
            delete from question_times t where t.question_id = any(affected);
            insert into question_times as t {_times.COLUMNS} {_times.aggregate(affected)};
            return query select last_seq, n, cardinality(affected)::bigint;
        end $$;
        """  # noqa: S608 (constants and the 0004 migration's aggregate only)
    )


def downgrade() -> None:
    execute_script(
        """
        drop function audit_prune(timestamptz);
        create or replace function events_append_only() returns trigger language plpgsql as $$
        begin raise exception 'audit events are append-only'; end $$;
        drop table chain_anchors, monthly_aggregates;
        drop function audit_kept_only();
        """
    )
