"""Table names: what a user may call a table, and the names of its companion tables."""

from __future__ import annotations

import re

from storage.errors import UserError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
COMPANIONS = ("rejects", "runs", "projections")


class TableNameError(UserError, ValueError):
    """A table name that could escape the database folder or clash with companion tables."""


def validate_table_name(name: str) -> str:
    """Return the name if it is safe to use as a folder name, else raise TableNameError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or "__" in name:
        raise TableNameError(
            f"invalid table name {name!r}: use 1-100 letters, digits, '_' or '-', starting "
            "with a letter or digit, without '__' (no '/', '.' or '..')")
    return name


def companion(name: str, kind: str) -> str:
    """The name of a table's companion table ('docs' -> 'docs__rejects')."""
    if kind not in COMPANIONS:
        raise ValueError(f"unknown companion table kind {kind!r}")
    return f"{name}__{kind}"


def staging(name: str, run_id: str) -> str:
    """The private dataset an incremental run stages its rows in ('docs__staging_<run id>')."""
    return f"{name}__staging_{run_id}"


def is_companion(name: str) -> bool:
    """True for tables embedfleet keeps beside a user's table (staging datasets included)."""
    return any(name.endswith(f"__{kind}") for kind in COMPANIONS) or "__staging_" in name
