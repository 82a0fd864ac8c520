"""The ``chairside`` command: a registry of command groups, and their shared output."""
