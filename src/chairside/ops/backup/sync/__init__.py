"""Copying complete backups, and the WAL they need, to another repository (a DR copy).

``backup sync`` never takes a second backup: it copies what the primary repository
already holds, verified against the manifests, and publishes each backup on the target
the way a writer does (payload files, then manifest, then the ``COMPLETE`` marker), so a
DR repository never shows a backup complete before all of its files and WAL are there.
A sync killed or cut off mid-way is resumed by the next run, which compares sizes and
checksums and sends only what is missing or damaged.

Modules: ``retention`` (which backups a repository keeps), ``objects`` (verified copies
and checksums of single objects), ``service`` (plan and run a sync), ``lag`` (how far
each repository is behind the primary, for ``backup status``), ``cli``.
"""
