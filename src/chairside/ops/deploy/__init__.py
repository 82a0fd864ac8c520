"""Deployments: maintenance and read-only modes, migrations, verification, rollback."""
