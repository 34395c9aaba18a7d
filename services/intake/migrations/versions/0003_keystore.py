"""Intake: reserved for the key store (issue 13, crypto-shredding); filled in by that change."""

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
