"""Disaster-recovery drills: prove, on a schedule, that a backup becomes a usable database.

A drill restores the newest backup (or a PITR target) from a chosen repository into a
scratch cluster on a free port, checks the restored data (the validation invariants and,
when the booking schema is there, a read-only smoke check through the booking service),
measures the RTO (drill start to a database that answers queries) and the effective RPO
(newest restored commit against the newest commit on the primary), records a report in
the ops store, and removes the scratch cluster whatever happened.

Modules: ``service`` (run a drill), ``probes`` (what is checked and measured on the
restored copy and on the primary), ``report`` (the report, as JSON and Markdown, kept in
the ops store), ``cli``.
"""
