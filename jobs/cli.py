"""The `embedfleet` command line."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

from jobs.config import BACKENDS, FORMATS, MODES, ConfigError, build_config, load_spec


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
    parser.add_argument("--backend", choices=BACKENDS,
                        help="torch (default), onnx (ONNX Runtime) or openvino; the CPU backends "
                             "export the model once to ~/.cache/embedfleet")
    parser.add_argument("--quantize", choices=("none", "int8", "bf16"),
                        help="compute precision: int8 with onnx, bf16 with torch or openvino "
                             "(CPUs with AMX / AVX-512 BF16); default none (fp32)")
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
    parser.add_argument("--max-batch-tokens", type=int,
                        help="padded tokens per model call (default 2048 on CPU, 16384 on GPU)")
    parser.add_argument("--mode", choices=MODES,
                        help="default: incremental when the table exists, else create; rebuild "
                             "re-embeds every row (needed after a model or setting change)")
    parser.add_argument("--delete-missing", action="store_true", default=None,
                        help="incremental: also remove rows whose ids are gone from the source")
    parser.add_argument("--address", dest="ray_address", help="Ray cluster address")
    parser.add_argument("--settings", help="all settings as one JSON object (what `embedfleet "
                        "submit` passes); --spec and flags override it")
    parser.add_argument("--run-id", help="id for this run in the runs table (default: generated)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def embed_settings(args: argparse.Namespace) -> dict:
    """Spec file settings overridden by the flags that were given."""
    try:
        settings = json.loads(args.settings) if getattr(args, "settings", None) else {}
    except ValueError as exc:
        raise ConfigError(f"--settings is not a JSON object: {exc}") from exc
    if args.spec:
        settings.update(load_spec(args.spec))
    flags = {k: v for k, v in vars(args).items()
             if k not in ("command", "spec", "json", "source", "func", "settings") and v is not None}
    settings.update(flags)
    if args.source:
        settings["paths"] = args.source
    return settings


def cmd_embed(args: argparse.Namespace) -> int:
    """Embed a corpus into a table and print the run summary."""
    from jobs.embed import run_embed
    from jobs.errors import USER_ERRORS, root_cause

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


def default_db() -> str:
    """The database folder when --db is not given."""
    return os.environ.get("EMBEDFLEET_DB", "./lancedb")


# Each module adds its subcommands with register(subparsers, default_db).
COMMAND_MODULES: list[str] = ["jobs.cli_query", "jobs.cli_ops", "jobs.cli_serve", "jobs.cli_cleanup",
                              "jobs.cli_eval"]


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
