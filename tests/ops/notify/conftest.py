"""The health tests' CLI fixture, for `chairside health --notify`."""

from tests.ops.health.conftest import cli  # noqa: F401 - a fixture, used by name
from tests.support.inbox import inbox  # noqa: F401, E402 - a fixture, used by name
