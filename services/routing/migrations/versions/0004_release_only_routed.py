"""Routing: the capacity triggers fire only for a question that held a place (a WHEN clause),
not for every routing of a new question."""

from opendeur.migrations_env import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The same condition release_capacity() checks first: with it in the trigger's WHEN, PostgreSQL
# skips queueing the row event and calling the function for a question that held no place (the
# routing of a new question, the common case), and nothing else changes.
HELD = "when (old.state = 'routed' and old.contact_id is not null)"


def triggers(when: str) -> None:
    """Routing's two capacity triggers (migration 0002) made again, with `when` (or none)."""
    execute_script(
        f"""
        drop trigger questions_release_capacity on questions;
        drop trigger questions_release_capacity_on_delete on questions;
        create trigger questions_release_capacity
            after update of state, contact_id on questions
            for each row {when} execute function release_capacity();
        create trigger questions_release_capacity_on_delete
            after delete on questions
            for each row {when} execute function release_capacity();
        """
    )


def upgrade() -> None:
    triggers(HELD)


def downgrade() -> None:
    triggers("")
