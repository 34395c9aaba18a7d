"""Notify: an address change waits for the new address to confirm it; its two mails are queued."""

from opendeur.migrations_env import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One pending change per contact (a new request replaces it, and its link stops working).
    # The new addresses are sealed like the contact's own; `nonce` is what the signed link
    # names, so an older link of a replaced change no longer confirms anything.
    # address_mails: the announcement to the old address and the confirmation to the new one,
    # rendered when the change is asked for and sealed (recipient and text), sent by notify's
    # delivery loop with retries, then their sealed content is cleared.
    execute_script(
        """
        create table address_changes (
            contact_id text primary key,
            wrapped_key bytea,
            email bytea,
            mobile bytea,
            channel text check (channel in ('email', 'sms')),
            language text,
            nonce text not null,
            requested_by text,
            requested_at timestamptz not null default now(),
            expires_at timestamptz not null,
            status text not null default 'pending'
                check (status in ('pending', 'confirmed')),
            confirmed_at timestamptz
        );
        create table address_mails (
            id bigserial primary key,
            contact_id text not null,
            kind text not null check (kind in ('confirm', 'notice')),
            channel text not null check (channel in ('email', 'sms')),
            wrapped_key bytea,
            recipient bytea,
            content bytea,
            status text not null default 'queued'
                check (status in ('queued', 'sending', 'sent', 'failed')),
            attempts integer not null default 0,
            next_attempt_at timestamptz not null default now(),
            last_error text,
            created_at timestamptz not null default now(),
            sent_at timestamptz
        );
        create index address_mails_due on address_mails (next_attempt_at)
            where status = 'queued';
        """
    )


def downgrade() -> None:
    execute_script("drop table address_mails, address_changes")
