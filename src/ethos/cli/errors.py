"""Errors a command raises to stop with a message and an exit code."""

from __future__ import annotations


class CLIError(Exception):
    """Stop the command: print ``error: MESSAGE`` and exit with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1, details: dict | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        #: extra fields of the ``--json`` error document (e.g. who holds control)
        self.details = dict(details or {})


#: Exit codes shared by all commands.
EXIT_OK = 0
EXIT_FAILED = 1  # did not do what was asked
EXIT_USAGE = 2  # bad input
EXIT_FOUND = 1  # a scan found something
EXIT_REFUSED = 5  # ethos rollback: another procedure holds or took control (the message names it)
