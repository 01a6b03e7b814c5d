"""Every error a user can act on derives from the one UserError the interfaces map to one line."""

from __future__ import annotations

import ast
import importlib

from storage.errors import UserError
from tests.support.corpus import REPO

# Errors that are not the user's to fix: the run reports them as a failed run, with the cause.
INTERNAL = {
    "EncoderFailure",  # the model failed on every row: a broken model or device
    "EmbedPassError",  # the embedding pass failed on the cluster (its first error, as text)
    "ChangeError",  # raised by the pure diff; the run turns it into a RunError
}


def error_classes() -> dict[str, str]:
    """Every class named *Error / *Failure in jobs, actors and storage -> its module."""
    found = {}
    for folder in ("jobs", "actors", "storage"):
        for path in sorted((REPO / folder).rglob("*.py")):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.ClassDef) and node.name.endswith(("Error", "Failure")):
                    found[node.name] = module
    return found


def test_every_user_facing_error_class_is_a_user_error():
    classes = error_classes()
    assert {"ConfigError", "SourceError", "RunError", "QueryError", "TableNotFoundError",
            "ExportError", "CapacityError", "VersionError"} <= set(classes)
    not_user = sorted(name for name, module in classes.items()
                      if not issubclass(getattr(importlib.import_module(module), name), UserError))
    assert not_user == sorted(INTERNAL)
