"""Errors a user can act on: the CLI prints them as one line instead of a traceback."""

from __future__ import annotations

from jobs.capacity import CapacityError
from jobs.config import ConfigError
from jobs.sources import SourceError
from storage.commit import CommitConflictError
from storage.db import TableNotFoundError
from storage.names import TableNameError


class RunError(RuntimeError):
    """The run cannot go ahead as configured; nothing was committed."""


USER_ERRORS = (CapacityError, ConfigError, SourceError, RunError, TableNameError, TableNotFoundError,
               CommitConflictError)
