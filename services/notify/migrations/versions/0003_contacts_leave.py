"""Notify: a contact person's group and when they left it, so their addresses can be deleted."""

from opendeur.migrations_env import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # left_reason: 'group_left' is undone when the group comes back; 'replaced' (another contact
    # person took the group over in an import) only by the contact's own re-import or routing.
    execute_script(
        """
        alter table contacts
            add column group_id text,
            add column left_at timestamptz,
            add column left_reason text check (left_reason in ('group_left', 'replaced'));
        create index contacts_group on contacts (group_id);
        create index contacts_left on contacts (left_at) where left_at is not null;
        create index notifications_contact on notifications (contact_id);
        """
    )


def downgrade() -> None:
    execute_script(
        """
        drop index notifications_contact;
        alter table contacts drop column group_id, drop column left_at, drop column left_reason;
        """
    )
