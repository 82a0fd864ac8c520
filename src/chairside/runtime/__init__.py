"""Local PostgreSQL and Redis processes.

Used by ``chairside up`` for the embedded default and by the test suite for its
throwaway servers: one mechanism, dogfooded. See :mod:`chairside.runtime.postgres`,
:mod:`chairside.runtime.redis` and :mod:`chairside.runtime.embedded`.
"""
