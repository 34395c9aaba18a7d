"""Intake: the key store (issue 13): wrapped keys leave PostgreSQL; a contact's part can end.

Crypto-shredding needs each question's wrapped data key outside the database (services/intake/
keystore.py), so that erasing it makes every copy of the ciphertext (dead tuples, WAL, backups)
useless. A migration runs as the database role and does not know where the key store is, so the
move happens in two steps:

1. here: `question_pii.wrapped_key` becomes nullable; new questions never write it.
2. at intake's start-up (its first sweep, `store.adopt_legacy_keys`, idempotent, in batches):
   each row that still has a wrapped key gets a key-store record (a record already there is
   kept), and the column is set to null. Until then a row's own key is read as before.

The column is kept (all null) rather than dropped, so a rollback of the code stays readable;
keys that were in it before the upgrade remain in PostgreSQL's dead tuples until VACUUM and in
WAL and backups until they age out (README: those questions are erased for good only then).

Also: `part_closed_at` (the contact person's part ended: final outcome, wrong group, the last
unreachable, or the question became unmatched), `unreachable_count`, and `link_until` (the callback
link's end: the deadline plus OPENDEUR_LINK_GRACE), `assigned_at` (the time of the routing event
applied last, so a late, older one changes nothing), for the callback page's access check; and an
index for deleting erased questions' stripped rows after OPENDEUR_ERASED_RETENTION."""

from opendeur.migrations_env import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        alter table question_pii alter column wrapped_key drop not null;
        alter table questions
            add column part_closed_at timestamptz,
            add column unreachable_count integer not null default 0,
            add column link_until timestamptz,
            add column assigned_at timestamptz;
        create index questions_erased_at on questions (erased_at) where erased_at is not null;
        """
    )


def downgrade() -> None:
    # Keys already moved to the key store stay there: a downgrade cannot bring them back into
    # rows without reading the store, so it refuses while any row lacks its key.
    execute_script(
        """
        do $$ begin
            if exists (select 1 from question_pii where wrapped_key is null) then
                raise exception 'question keys live in the key store; downgrade not possible';
            end if;
        end $$;
        drop index questions_erased_at;
        alter table questions drop column part_closed_at, drop column unreachable_count,
            drop column link_until, drop column assigned_at;
        alter table question_pii alter column wrapped_key set not null;
        """
    )
