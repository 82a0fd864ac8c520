"""``lab roll``: a rolling restart of the lab's API hosts, each on the release it has.

A thin wrapper over the rolling deploy's one implementation
(:mod:`chairside.ops.deploy.rolling`): the same drain, graceful restart, verification and
return to HAProxy, with every host's target release being the one it already runs.
Migrations, when asked for, run once, on the leader (HAProxy's write port), before the
first host.
"""

from __future__ import annotations

from collections.abc import Callable

from chairside.checks import CheckResult
from chairside.ops.database import migrations
from chairside.ops.deploy.release import Release
from chairside.ops.deploy.rolling import (
    HaproxyBalancer,
    HostResult,
    plan_roll,
    release_check,
    roll_hosts,
)
from chairside.runtime.lab.hosts import LabHosts
from chairside.runtime.lab.layout import LabLayout
from chairside.topology.model import ApiHost, Topology


def roll_api_hosts(
    layout: LabLayout,
    topology: Topology,
    *,
    hosts: list[ApiHost],
    migrate: bool = False,
    drain_timeout: float = 30.0,
    ready_timeout: float = 90.0,
    step: Callable[[str], None] = lambda message: None,
) -> list[HostResult]:
    """Restart ``hosts`` one at a time behind HAProxy; the first failure stops the roll."""
    control = LabHosts(layout)
    if migrate:
        step("Migrating once, on the leader (HAProxy's write port) ...")
        migrations.upgrade(url=layout.write_url(topology))

    def verify(host: ApiHost, release: Release) -> list[CheckResult]:
        return [release_check(host, release)]

    return roll_hosts(
        plan_roll(hosts, control.release_of, None),
        control=control,
        balancer=HaproxyBalancer.of(topology),
        verify=verify,
        drain_timeout=drain_timeout,
        ready_timeout=ready_timeout,
        step=step,
    )
