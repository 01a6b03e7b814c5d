"""Errors a user can act on: the CLI prints them as one line instead of a traceback."""

from __future__ import annotations

import re

from actors.expressions import ExpressionError
from actors.filters import FilterError
from actors.projection import ProjectionError
from actors.query import QueryError
from jobs.capacity import CapacityError
from jobs.config import ConfigError
from jobs.sources import SourceError
from storage.commit import CommitConflictError
from storage.db import TableNotFoundError
from storage.names import TableNameError


class RunError(RuntimeError):
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


USER_ERRORS = (ExpressionError, FilterError, ProjectionError, QueryError, CapacityError, ConfigError,
               SourceError, RunError, TableNameError, TableNotFoundError, CommitConflictError)
