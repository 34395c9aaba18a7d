"""Audit: one row of timings per question, kept by a statement trigger on events; a BRIN on time.

The console's and the report's timings read every question received in a window together with the
first routed, notified, callback and closing event of each. Computed from the events at read time
that is a lateral index scan per question (1.4 s for a month at 1,000,000 events); kept here as the
events arrive, it is a range read of one small row per question. The trigger runs once per insert
statement (audit appends a whole batch with one COPY, which fires it too) over the batch's
transition table, so a batch of up to 2,000 events costs one grouped upsert. The table is derived:
events stay the trail, and `question_times_rebuild()` recomputes it from them.
"""

from opendeur.migrations_env import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ROUTING = "('question.routed.v1', 'question.unmatched.v1')"
CLOSING = "('question.erased.v1', 'consent.withdrawn.v1', 'question.closed.v1')"
RECEIVED = "type = 'question.received.v1'"


RELEVANT = (
    "('question.received.v1', 'question.routed.v1', 'question.unmatched.v1', "
    "'contact.notified.v1', 'callback.done.v1', 'question.erased.v1', 'consent.withdrawn.v1', "
    "'question.closed.v1')"
)


def aggregate(source: str) -> str:
    """Per question in `source`: its received event's clock (a question is received once; min()
    keeps it cheap), the first of each step, the latest routing decision (by occurred_at, seq).
    Events of other types (escalations, pii.accessed, ...) change nothing and are skipped."""
    last_routing = f"order by occurred_at desc, seq desc) filter (where type in {ROUTING}))[1]"
    return f"""
        select question_id,
               min(occurred_at) filter (where {RECEIVED}),
               min(coalesce(record->>'topic', 'unknown')) filter (where {RECEIVED}),
               min(coalesce((record->>'received_at')::timestamptz, occurred_at))
                   filter (where {RECEIVED}),
               min((record->>'respond_before')::timestamptz) filter (where {RECEIVED}),
               min(occurred_at) filter (where type = 'question.routed.v1'),
               min(occurred_at) filter (where type = 'contact.notified.v1'),
               min(occurred_at) filter (where type = 'callback.done.v1'),
               min(occurred_at) filter (where type in {CLOSING}),
               coalesce(bool_or(type = 'question.unmatched.v1'), false),
               (array_agg(type {last_routing},
               (array_agg(occurred_at {last_routing},
               (array_agg(seq {last_routing}
        from {source}
        where question_id is not null and type in {RELEVANT}
        group by question_id
    """  # noqa: S608 (built from the constants above)


COLUMNS = """(question_id, received_seen_at, topic, received_at, respond_before, routed_at,
              notified_at, callback_at, closed_at, unmatched_ever, last_routing, last_routing_at,
              last_routing_seq)"""

MERGE = """
    on conflict (question_id) do update set
        received_seen_at = least(t.received_seen_at, excluded.received_seen_at),
        topic = case when t.received_seen_at is null or excluded.received_seen_at < t.received_seen_at
                     then excluded.topic else t.topic end,
        received_at = case when t.received_seen_at is null
                                or excluded.received_seen_at < t.received_seen_at
                           then excluded.received_at else t.received_at end,
        respond_before = case when t.received_seen_at is null
                                   or excluded.received_seen_at < t.received_seen_at
                              then excluded.respond_before else t.respond_before end,
        routed_at = least(t.routed_at, excluded.routed_at),
        notified_at = least(t.notified_at, excluded.notified_at),
        callback_at = least(t.callback_at, excluded.callback_at),
        closed_at = least(t.closed_at, excluded.closed_at),
        unmatched_ever = t.unmatched_ever or excluded.unmatched_ever,
        last_routing = case when t.last_routing_at is null
                                 or (excluded.last_routing_at, excluded.last_routing_seq)
                                    > (t.last_routing_at, t.last_routing_seq)
                            then excluded.last_routing else t.last_routing end,
        last_routing_seq = case when t.last_routing_at is null
                                     or (excluded.last_routing_at, excluded.last_routing_seq)
                                        > (t.last_routing_at, t.last_routing_seq)
                                then excluded.last_routing_seq else t.last_routing_seq end,
        last_routing_at = case when t.last_routing_at is null
                                    or (excluded.last_routing_at, excluded.last_routing_seq)
                                       > (t.last_routing_at, t.last_routing_seq)
                               then excluded.last_routing_at else t.last_routing_at end
"""


def upgrade() -> None:
    execute_script(
        f"""
        create table question_times (
            question_id uuid primary key,
            received_seen_at timestamptz,  -- occurred_at of its question.received.v1: the window
            topic text,
            received_at timestamptz,
            respond_before timestamptz,
            routed_at timestamptz,
            notified_at timestamptz,
            callback_at timestamptz,
            closed_at timestamptz,
            unmatched_ever boolean not null default false,
            last_routing text,
            last_routing_at timestamptz,
            last_routing_seq bigint
        );
        insert into question_times as t {COLUMNS} {aggregate("events")};
        create index question_times_received on question_times (received_seen_at)
            where received_seen_at is not null;
        create index question_times_unmatched on question_times (question_id)
            where unmatched_ever;

        create function question_times_apply() returns trigger language plpgsql as $$
        begin
            insert into question_times as t {COLUMNS} {aggregate("new_events")} {MERGE};
            return null;
        end $$;
        create trigger events_question_times after insert on events
            referencing new table as new_events
            for each statement execute function question_times_apply();

        create function question_times_rebuild() returns bigint language plpgsql as $$
        declare n bigint;
        begin
            truncate question_times;
            insert into question_times as t {COLUMNS} {aggregate("events")};
            get diagnostics n = row_count;
            return n;
        end $$;

        -- The live stream's ?since=: events are appended in about time order, so a BRIN index on
        -- occurred_at finds a recent window without a per-row index to maintain on ingest.
        create index events_occurred_brin on events using brin (occurred_at);
        analyze question_times;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        drop trigger events_question_times on events;
        drop function question_times_apply();
        drop function question_times_rebuild();
        drop table question_times;
        drop index events_occurred_brin;
        """
    )
