"""What runs as a Ray job: embed, schedule, eval, bench, and the CLI."""

import os
import warnings
from importlib import metadata


def _version() -> str:
    """The version pyproject.toml gives: from the installed package, else from the checkout."""
    try:
        return metadata.version("embedfleet")
    except metadata.PackageNotFoundError:
        pass
    # A Ray job's working dir is this checkout, uninstalled: read the one place it is written.
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        return tomllib.loads(pyproject.read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "0+unknown"


__version__ = _version()

# Lance warns for every fragment written to a table that has no committed version yet, which
# is how every first run writes; keep its errors only (set these to "warn" to see them).
os.environ.setdefault("LANCE_LOG", "error")
os.environ.setdefault("LANCEDB_LOG", "error")

# Lance and LanceDB warn at every fork once they are loaded. Ray and subprocess start their
# processes with fork + exec, so no child ever runs on the forked Lance state: the warnings
# (several per run) say nothing a user can act on.
warnings.filterwarnings("ignore", message="lance is not fork-safe", category=UserWarning)
warnings.filterwarnings("ignore", message="lancedb fork support is experimental",
                        category=RuntimeWarning)
