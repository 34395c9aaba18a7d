"""Intake: phone-console sessions kept server-side (logout and disabling end them at once)."""

from opendeur.migrations_env import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        alter table users add column disabled_at timestamptz;
        create table phone_sessions (
            id_hash bytea primary key,
            user_name text not null references users (name) on delete cascade,
            created_at timestamptz not null,
            last_seen timestamptz not null,
            expires_at timestamptz not null
        );
        create index phone_sessions_user on phone_sessions (user_name);
        create index phone_sessions_expires on phone_sessions (expires_at);
        """
    )


def downgrade() -> None:
    execute_script(
        """
        drop table phone_sessions;
        alter table users drop column disabled_at;
        """
    )
