"""Intake: contact persons' optional PINs (argon2) and the views per contact behind the alert
on forged callback links."""

from opendeur.migrations_env import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        create table contact_guards (
            contact_id text primary key,
            pin_hash text,
            pin_set_at timestamptz,
            pin_failures integer not null default 0,
            pin_locked_at timestamptz,
            held_at timestamptz
        );
        create table contact_views (
            contact_id text not null,
            question_id uuid not null,
            viewed_at timestamptz not null,
            primary key (contact_id, question_id)
        );
        create index contact_views_viewed_at on contact_views (viewed_at);
        """
    )


def downgrade() -> None:
    execute_script(
        """
        drop table contact_views;
        drop table contact_guards;
        """
    )
