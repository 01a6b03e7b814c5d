"""Session artefacts built once per test run, however many parallel workers ask for them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path


def built_once(tmp_path_factory, name: str, build: Callable[[Path], str | os.PathLike]) -> str:
    """What `build(folder)` returned (a path), built by the first worker to ask, reused by the rest.

    The artefacts are read-only to the tests (they copy a database before changing it), so one
    build serves every worker: each would otherwise pay the model's imports and the run again.
    """
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, which holds every worker's own
    folder = root / f"shared-{name}"
    built = root / f"shared-{name}.built"  # written last: a build that died leaves none
    with FileLock(str(root / f"shared-{name}.lock")):
        if not built.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            built.write_text(str(build(folder)))
        return built.read_text()
