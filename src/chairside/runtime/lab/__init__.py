"""``chairside lab``: the highly available topology started on one machine for rehearsal."""
