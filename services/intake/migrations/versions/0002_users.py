"""Intake: volunteers' accounts for the phone-line console."""

from opendeur.migrations_env import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        create table users (
            user_id bigint generated always as identity primary key,
            name text not null unique,
            role text not null,
            password_hash text not null,
            must_change boolean not null default true,
            created_at timestamptz not null default now()
        );
        """
    )


def downgrade() -> None:
    execute_script("drop table users;")
