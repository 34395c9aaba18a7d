"""Audit: the console's filter "acties van medewerkers" reads a small partial index, newest first,
instead of walking the whole trail backwards for the few records a staff member did."""

from opendeur.migrations_env import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The predicate is services.audit.queries.STAFF_ONLY, word for word (the planner matches it).
    execute_script(
        """
        create index events_staff on events (seq)
            where (type = 'staff.acted.v1' or (record->>'staff_id') is not null);
        """
    )


def downgrade() -> None:
    execute_script("drop index events_staff;")
