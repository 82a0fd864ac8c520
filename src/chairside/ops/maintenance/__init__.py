"""Routine maintenance (the runbooks' weekly job): database, logs, system, or all of it."""
