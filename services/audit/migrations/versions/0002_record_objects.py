"""Audit: store each record as a jsonb object (earlier rows held it as a JSON string scalar)."""

from opendeur.migrations_env import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Same content, so every hash still matches; only the jsonb shape changes.
    execute_script(
        """
        alter table events disable trigger events_no_update;
        update events set record = (record #>> '{}')::jsonb where jsonb_typeof(record) = 'string';
        alter table events enable trigger events_no_update;
        alter table events add constraint events_record_object
            check (jsonb_typeof(record) = 'object');
        """
    )


def downgrade() -> None:
    execute_script("alter table events drop constraint events_record_object")
