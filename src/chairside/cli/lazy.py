"""Command groups imported only when they run.

The root group knows each command by name, import path and one-line help. Listing the
commands (``chairside --help``) shows that help without importing anything; resolving a
command to run it (``chairside backup status``) imports that one module, so a command
pays only for the services it uses. ``tests/cli/test_lazy.py`` checks that the help
registered here is the help of the real command.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """One command of the root: a Typer group or a function, as ``module:attribute``."""

    name: str
    target: str
    help: str
    extra: Mapping[str, str] = field(default_factory=dict)  # more commands for the group

    def load(self) -> Any:
        """The real click command (importing its module now)."""
        obj = _resolve(self.target)
        if isinstance(obj, typer.Typer):
            for name, target in self.extra.items():
                obj.command(name)(_resolve(target))
            return typer.main.get_group(obj)
        single = typer.Typer(add_completion=False)
        single.command(self.name)(obj)
        return typer.main.get_command(single)


_LOADED: dict[str, Any] = {}


def _resolve(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


class LazyGroup(TyperGroup):
    """The root group: lists the registry's help, imports a command when it is resolved."""

    registry: Sequence[LazyCommand] = ()

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False

    @classmethod
    def of(cls, commands: Sequence[LazyCommand]) -> type[LazyGroup]:
        """A root group class for these commands (Typer builds it from the class)."""
        return type("ChairsideGroup", (cls,), {"registry": tuple(commands)})

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(c.name for c in self.registry)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        known = super().get_command(ctx, cmd_name)
        if known is not None:
            return known
        entry = next((c for c in self.registry if c.name == cmd_name), None)
        if entry is None:
            return None
        if self._listing:
            return TyperCommand(name=entry.name, help=entry.help)
        if cmd_name not in _LOADED:  # once per process: tests build the root many times
            _LOADED[cmd_name] = entry.load()
        return _LOADED[cmd_name]

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        known = self.list_commands(ctx)
        if name and not name.startswith("-") and name not in known:
            matches = get_close_matches(name, known)
            hint = f" Did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
