"""Alembic environment of this service: the shared runner, this service's own history."""

from opendeur.migrations_env import run

run()
