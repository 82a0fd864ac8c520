"""Child processes (pg_basebackup, pg_dump, pg_receivewal) that never outlive Chairside.

A backup killed with SIGKILL runs no clean-up code, so its tools must notice on their
own: Linux's parent-death signal (``PR_SET_PDEATHSIG``) sends them SIGTERM when the
process that started them dies.
"""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for Popen: get SIGTERM when the parent dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the orphan finishes; staging is cleaned later
        pass
