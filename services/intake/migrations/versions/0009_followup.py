"""Intake: whether the help-seeker answered the one follow-up question after her callback (a
flag on the question), and the answers waiting, without any id, for the next batch that
publishes them together (followup.answered.v1)."""

from opendeur.migrations_env import execute_script

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        alter table questions add column followup_answered boolean not null default false;
        create table followup_pending (id bigserial primary key, answer text not null);
        """
    )


def downgrade() -> None:
    execute_script(
        """
        drop table followup_pending;
        alter table questions drop column followup_answered;
        """
    )
