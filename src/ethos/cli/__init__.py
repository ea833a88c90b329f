"""The ``ethos`` command line: thin commands over the library.

Sub-commands are imported only when used, so ``ethos serve`` starts fast and a command
whose optional parts are missing does not break the others.
"""

from __future__ import annotations

import importlib

import click

from .errors import CLIError

#: command name -> "module:attribute" under ethos.cli
COMMANDS: dict[str, str] = {
    "serve": "serve:serve",
    "cache": "cache:cache",
    "pii": "pii:pii",
    "router": "router:router",
    "stack": "stack:stack",
    "rollback": "rollback:rollback",
    "guard": "guard:guard",
    "console": "console:console",
    "evidence": "evidence:evidence",
    "incident": "incident:incident",
    "drill": "drill:drill",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(f"ethos.cli.{module}"), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ethos")
def cli() -> None:
    """ethos: a marketing chat service with a cache safe to share, and its rollbacks."""


def main() -> None:
    """Entry point: CLIError becomes a one-line message and its exit code."""
    try:
        cli.main(standalone_mode=False)
    except CLIError as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(e.exit_code) from None
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        raise SystemExit(130) from None
    except click.ClickException as e:
        e.show()
        raise SystemExit(e.exit_code) from None
    except click.exceptions.Exit as e:
        raise SystemExit(e.exit_code) from None


__all__ = ["cli", "main", "CLIError", "COMMANDS"]
