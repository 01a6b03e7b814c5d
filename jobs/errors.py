"""Errors of a run, and how every command turns a user error into one line."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable

from storage.errors import ConfigError, UserError

__all__ = ["ConfigError", "EmbedPassError", "RunError", "UserError", "root_cause", "run_cli_command",
           "user_message"]


class RunError(UserError, RuntimeError):
    """The run cannot go ahead as configured; nothing was committed."""


class EmbedPassError(RuntimeError):
    """The embedding pass failed on the cluster (its first error, as 'Type: message')."""


_ERROR_LINE = re.compile(r"^\s*((?:\w+\.)*\w+(?:Error|Exception|Failure|Interrupt)): (.*)$")


def root_cause(exc: BaseException) -> str:
    """The first error raised, as 'Type: message', found inside Ray's task-error wrappers.

    Ray carries the remote traceback as text only, so the innermost error is the first
    'Type: message' line in it that is not one of Ray's own wrappers.
    """
    for line in str(exc).splitlines():
        match = _ERROR_LINE.match(line)
        if match and not match.group(1).startswith("ray."):
            return f"{match.group(1).rsplit('.', 1)[-1]}: {match.group(2)}"
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def user_message(exc: UserError) -> str:
    """A user error as the one line every interface shows (newlines folded)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def run_cli_command(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; a UserError prints 'embedfleet: error: ...' on stderr and exits 2."""
    try:
        return command(args)
    except UserError as exc:
        print(f"embedfleet: error: {user_message(exc)}", file=sys.stderr)
        return 2
