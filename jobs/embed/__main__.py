"""`python -m jobs.embed ...`: the embed command alone, as a Ray job runs it (same flags)."""

from __future__ import annotations

import argparse
import sys

from jobs.embed.command import add_embed_arguments, cmd_embed
from jobs.errors import run_cli_command


def main(argv: list[str] | None = None) -> int:
    """Parse the embed flags and run; user errors print one line and exit 2."""
    parser = argparse.ArgumentParser(prog="python -m jobs.embed", description=__doc__)
    add_embed_arguments(parser)
    return run_cli_command(cmd_embed, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
