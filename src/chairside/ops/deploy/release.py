"""What a release is: a label and the Python interpreter (a virtualenv) that runs it.

A host runs one release at a time. In production a release is a virtualenv of its own
(``/srv/chairside/releases/<label>/.venv``), so the previous one stays installed and a
rollback only points the host back at it; in the lab every release shares this checkout's
code and differs by label and interpreter. The label reaches the running app as
``CHAIRSIDE_RELEASE``: every answer carries it in ``X-Chairside-Release``, and
``/health/live`` and ``/health/detailed`` report it, so anyone can see which release a
host serves.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from chairside.config import Settings
from chairside.errors import InputError

RELEASE_HEADER = "X-Chairside-Release"
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


@lru_cache(maxsize=1)
def installed_version() -> str:
    """The version of the Chairside code this process runs."""
    try:
        return package_version("chairside")
    except PackageNotFoundError:
        from chairside import __version__

        return __version__


def running_release(settings: Settings) -> str:
    """The release this process serves: ``CHAIRSIDE_RELEASE``, else the package version."""
    return settings.release or installed_version()


@dataclass(frozen=True)
class Release:
    """A release: its label and the interpreter of its virtualenv."""

    label: str
    python: str

    @classmethod
    def make(cls, label: str, python: str | Path | None = None) -> Release:
        """A checked release; ``python`` defaults to this command's own interpreter."""
        if not _LABEL.match(label):
            raise InputError(
                f"release {label!r}: use 1 to 64 letters, digits, '.', '_', '+' or '-'",
                field="release",
            )
        interpreter = str(python) if python is not None else sys.executable
        if not os.path.isabs(interpreter):
            raise InputError(
                f"python {interpreter!r}: give the absolute path of the release's interpreter"
                " (e.g. /srv/chairside/releases/2.1/.venv/bin/python)",
                field="python",
            )
        if not os.access(interpreter, os.X_OK):
            raise InputError(
                f"python {interpreter}: no executable there; install the release first",
                field="python",
            )
        return cls(label=label, python=interpreter)

    @classmethod
    def initial(cls) -> Release:
        """The release of a host nobody deployed to yet: this code, this interpreter."""
        return cls(label=installed_version(), python=sys.executable)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "python": self.python}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Release:
        return cls(label=str(data["label"]), python=str(data["python"]))
