"""The `embedfleet` command line."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from jobs.embed.command import add_embed_arguments, cmd_embed
from jobs.errors import run_cli_command
from storage.defaults import default_db


def cmd_info(args: argparse.Namespace) -> int:
    """Print a table's rows, dimension, provenance and versions."""
    from storage.info import table_info

    info = table_info(args.db, args.table)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    for key, value in info.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k}: {v}")
        else:
            print(f"{key}: {value}")
    return 0


def cmd_tables(args: argparse.Namespace) -> int:
    """List the tables in the database folder."""
    from storage.db import list_tables

    names = list_tables(args.db)
    print(json.dumps(names) if args.json else "\n".join(names))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """Print the recorded runs (and scheduler ticks) of a table, oldest first."""
    from storage.runs import list_runs

    runs = list_runs(args.db, args.table)
    if args.json:
        print(json.dumps(runs, default=str))
        return 0
    counters = ("version", "read", "embedded", "skipped_unchanged", "rejected", "updated",
                "inserted", "deleted")
    print(f"{'started':<19}  {'finished':<8}  {'status':<9} {'mode':<11} " + " ".join(
        f"{c.split('_')[0][:8]:>8}" for c in counters) + f" {'seconds':>8}  note")
    for r in runs:
        cells = " ".join(f"{'-' if r.get(c) is None else r[c]:>8}" for c in counters)
        seconds = "-" if r.get("seconds") is None else f"{r['seconds']:.1f}"
        finished = f"{r['finished_at']:%H:%M:%S}" if r.get("finished_at") else "-"
        print(f"{r['started_at']:%Y-%m-%d %H:%M:%S}  {finished:<8}  {r['status']:<9} "
              f"{r['mode'] or '-':<11} {cells} {seconds:>8}  {(r.get('error') or '')[:80]}")
    return 0


# Each module adds its subcommands with register(subparsers, default_db).
COMMAND_MODULES: list[str] = ["jobs.cli.query", "jobs.cli.ops", "jobs.cli.serve", "jobs.cli.cleanup",
                              "jobs.cli.eval"]


def _add_reader(sub, name: str, help_text: str, func, takes_table: bool = True) -> None:
    """A read-only command: [TABLE] --db --json."""
    parser = sub.add_parser(name, help=help_text)
    if takes_table:
        parser.add_argument("table")
    parser.add_argument("--db", default=default_db())
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    """All subcommands."""
    parser = argparse.ArgumentParser(prog="embedfleet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    embed = sub.add_parser("embed", help="embed a corpus into a LanceDB table")
    add_embed_arguments(embed)
    embed.set_defaults(func=cmd_embed)
    _add_reader(sub, "info", "rows, dimension, provenance and versions of a table", cmd_info)
    _add_reader(sub, "tables", "list tables", cmd_tables, takes_table=False)
    _add_reader(sub, "runs", "history of embed runs into a table", cmd_runs)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub, default_db())
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; user errors print one line and exit 2."""
    args = build_parser().parse_args(argv)
    return run_cli_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
