"""Routing: each contact's open callbacks as a counter held by a conditional update; a groups version."""

from opendeur.migrations_env import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Routing takes capacity with `update contacts set open_count = open_count + 1 where
    # open_count < max_open` (no global lock); the trigger gives it back whenever a routed
    # question leaves that contact (outcome, re-route, team queue, erasure, delete), so the
    # counter moves in the same transaction as the question's state.
    execute_script(
        """
        lock table contacts, questions in share row exclusive mode;
        alter table contacts add column open_count integer not null default 0
            check (open_count >= 0);
        update contacts c set open_count = q.n
        from (select contact_id, count(*) as n from questions where state = 'routed'
              and contact_id is not null group by contact_id) q
        where q.contact_id = c.contact_id;

        create function release_capacity() returns trigger language plpgsql as $$
        begin
            if old.state = 'routed' and old.contact_id is not null then
                update contacts set open_count = open_count - 1
                where contact_id = old.contact_id;
            end if;
            return null;
        end $$;
        create trigger questions_release_capacity
            after update of state, contact_id on questions
            for each row execute function release_capacity();
        create trigger questions_release_capacity_on_delete
            after delete on questions
            for each row execute function release_capacity();

        create table groups_version (
            one boolean primary key default true check (one),
            version bigint not null
        );
        insert into groups_version (version) values (1);
        create function bump_groups_version() returns trigger language plpgsql as $$
        begin
            update groups_version set version = version + 1;
            return null;
        end $$;
        create trigger groups_bump_version
            after insert or update or delete on groups
            for each statement execute function bump_groups_version();
        create index contacts_by_group on contacts (group_id) where active;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        drop index contacts_by_group;
        drop trigger groups_bump_version on groups;
        drop function bump_groups_version();
        drop table groups_version;
        drop trigger questions_release_capacity_on_delete on questions;
        drop trigger questions_release_capacity on questions;
        drop function release_capacity();
        alter table contacts drop column open_count;
        """
    )
