"""Routing: the languages each contact person can call in (the first is the one she reads in)."""

from opendeur.migrations_env import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A group's languages stay as they are (the directory lists them); an import sets them to
    # what its contact persons speak. Everyone imported so far spoke Dutch.
    execute_script(
        """
        alter table contacts add column languages text[] not null default '{nl}'
            check (cardinality(languages) >= 1);
        """
    )


def downgrade() -> None:
    execute_script("alter table contacts drop column languages")
