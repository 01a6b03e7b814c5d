"""`embedfleet cleanup`: remove what runs that died before committing left on disk."""

from __future__ import annotations

import argparse
import json


def cmd_cleanup(args: argparse.Namespace) -> int:
    """Remove staging datasets and unreferenced fragment files older than --older-than."""
    from storage.cleanup import find_leftovers, remove_leftovers

    found = find_leftovers(args.db, args.table, args.older_than)
    if not args.dry_run:
        remove_leftovers(args.db, found)
    if args.json:
        print(json.dumps({**found.to_dict(), "removed": not args.dry_run}))
        return 0
    verb = "would remove" if args.dry_run else "removed"
    print(f"{args.table}: {verb} {len(found.staging)} staging dataset(s) and {len(found.files)} "
          f"uncommitted data file(s), {found.bytes / 1e6:.1f} MB")
    return 0


def register(sub, default_db: str) -> None:
    """Add the cleanup command."""
    from storage.cleanup import parse_age

    cleanup = sub.add_parser("cleanup", help="remove files of runs that died before committing "
                             "(never a file any version uses)")
    cleanup.add_argument("table")
    cleanup.add_argument("--db", default=default_db)
    cleanup.add_argument("--older-than", type=parse_age, default=parse_age("7d"),
                         help="only files this old (default 7d; a run still writing keeps its "
                              "newer files): 0 when no run is in progress, or 90s, 30m, 12h")
    cleanup.add_argument("--dry-run", action="store_true", help="list, do not remove")
    cleanup.add_argument("--json", action="store_true")
    cleanup.set_defaults(func=cmd_cleanup)
