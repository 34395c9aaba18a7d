"""Intake: staff accounts get roles (several per account), a pseudonymous staff id and one-time
sign-in links (the first coordinator's)."""

from opendeur.migrations_env import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        alter table users add column roles text[] not null default '{}';
        update users set roles = array['telefoonvrijwilliger'] where role = 'phone';
        alter table users add column staff_id text;
        update users set staff_id = 'st-' || substr(md5(random()::text || name), 1, 16);
        alter table users alter column staff_id set not null;
        alter table users add constraint users_staff_id_unique unique (staff_id);
        alter table users alter column role drop not null;
        create table signin_links (
            id_hash bytea primary key,
            user_name text not null references users (name) on delete cascade,
            expires_at timestamptz not null
        );
        """
    )


def downgrade() -> None:
    execute_script(
        """
        drop table signin_links;
        update users set role = 'phone' where role is null;
        alter table users alter column role set not null;
        alter table users drop constraint users_staff_id_unique;
        alter table users drop column staff_id;
        alter table users drop column roles;
        """
    )
