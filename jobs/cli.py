"""The `embedfleet` command line."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys

from jobs.config import FORMATS, MODES, ConfigError, build_config, load_spec


def add_embed_arguments(parser: argparse.ArgumentParser) -> None:
    """The embed command's flags (shared with `python -m jobs.embed`)."""
    parser.add_argument("source", nargs="*", help="files, directories or globs (or in --spec)")
    parser.add_argument("--table", help="table name")
    parser.add_argument("--db", help="database folder (default ./lancedb or $EMBEDFLEET_DB)")
    parser.add_argument("--spec", help="YAML file with the same settings; flags override it")
    parser.add_argument("--format", choices=FORMATS, help="input format (default: by extension)")
    parser.add_argument("--id-column", help="id column (default id; text input: path:line)")
    parser.add_argument("--text-column", help="text column (default text)")
    parser.add_argument("--model", help="sentence-transformers name or path (default "
                        "all-MiniLM-L6-v2, packaged), or fake:DIM")
    parser.add_argument("--truncate-dim", type=int, help="keep the first D dims (Matryoshka)")
    parser.add_argument("--doc-prefix", help="prefix added to every document before embedding")
    parser.add_argument("--query-prefix", help="prefix the query side adds to queries")
    parser.add_argument("--max-seq-length", type=int, help="tokens per text the model sees")
    parser.add_argument("--dtype", choices=("float32", "float16"), help="stored vector type")
    parser.add_argument("--keep-full", action="store_true", default=None,
                        help="with --truncate-dim, also store the full vector as vector_full")
    parser.add_argument("--index-threshold", type=int,
                        help="build or refresh the ANN index once the table has this many rows "
                             "(default 100000)")
    parser.add_argument("--index-type", choices=("ivf_pq", "hnsw"), help="ANN index kind")
    parser.add_argument("--actors", help="N, or MIN,MAX for an autoscaling pool")
    parser.add_argument("--gpus-per-actor", type=float, help="GPUs per actor (fractions allowed)")
    parser.add_argument("--cpus-per-actor", type=float, help="CPUs per actor")
    parser.add_argument("--batch-size", type=int, help="rows per batch sent to an actor")
    parser.add_argument("--max-batch-tokens", type=int, help="padded tokens per model call")
    parser.add_argument("--mode", choices=MODES, help="create (default), append, overwrite")
    parser.add_argument("--address", dest="ray_address", help="Ray cluster address")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def embed_settings(args: argparse.Namespace) -> dict:
    """Spec file settings overridden by the flags that were given."""
    settings = load_spec(args.spec) if args.spec else {}
    flags = {k: v for k, v in vars(args).items()
             if k not in ("command", "spec", "json", "source", "func") and v is not None}
    settings.update(flags)
    if args.source:
        settings["paths"] = args.source
    return settings


def cmd_embed(args: argparse.Namespace) -> int:
    """Embed a corpus into a table and print the run summary."""
    from jobs.embed import run_embed
    from jobs.errors import USER_ERRORS

    config = build_config(embed_settings(args))
    try:
        summary = run_embed(config)
    except USER_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed run is reported, not dumped
        print(f"embedfleet: run failed, table {config.table!r} left at its previous version: "
              f"{root_cause(exc)}", file=sys.stderr)
        return 1
    print(summary.to_json() if args.json else summary.line())
    return 0


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
    """Print the recorded runs of a table, oldest first."""
    from storage.runs import list_runs

    runs = list_runs(args.db, args.table)
    if args.json:
        print(json.dumps(runs, default=str))
        return 0
    print(f"{'started':<20} {'status':<9} {'mode':<9} {'version':>7} {'read':>8} "
          f"{'embedded':>8} {'skipped':>8} {'rejected':>8} {'seconds':>8}")
    for r in runs:
        version = "-" if r["version"] is None else r["version"]
        print(f"{r['started_at']:%Y-%m-%d %H:%M:%S}  {r['status']:<9} {r['mode']:<9} "
              f"{version:>7} {r['read']:>8} {r['embedded']:>8} {r['skipped_unchanged']:>8} "
              f"{r['rejected']:>8} {r['seconds']:>8.1f}")
    return 0


def default_db() -> str:
    """The database folder when --db is not given."""
    return os.environ.get("EMBEDFLEET_DB", "./lancedb")


# Each module adds its subcommands with register(subparsers, default_db).
COMMAND_MODULES: list[str] = []


def build_parser() -> argparse.ArgumentParser:
    """All subcommands."""
    parser = argparse.ArgumentParser(prog="embedfleet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    embed = sub.add_parser("embed", help="embed a corpus into a LanceDB table")
    add_embed_arguments(embed)
    embed.set_defaults(func=cmd_embed)
    info = sub.add_parser("info", help="rows, dimension, provenance and versions of a table")
    info.add_argument("table")
    info.add_argument("--db", default=default_db())
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)
    tables = sub.add_parser("tables", help="list tables")
    tables.add_argument("--db", default=default_db())
    tables.add_argument("--json", action="store_true")
    tables.set_defaults(func=cmd_tables)
    runs = sub.add_parser("runs", help="history of embed runs into a table")
    runs.add_argument("table")
    runs.add_argument("--db", default=default_db())
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(func=cmd_runs)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub, default_db())
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; user errors print one line and exit 2."""
    from jobs.errors import USER_ERRORS

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, *USER_ERRORS) as exc:
        print(f"embedfleet: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
