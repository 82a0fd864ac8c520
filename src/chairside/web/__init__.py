"""The ops console: ``/ops``, one page an operator reads to see whether Chairside is well.

``summary.py`` gathers what the page shows from the ops services (read-only, cached
where the reading is costly), ``router.py`` serves the page, its static files and the
admin-only JSON summary; ``templates/`` and ``static/`` are the page itself.
"""
