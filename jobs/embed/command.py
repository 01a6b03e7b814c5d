"""The embed command's flags and action, shared by `embedfleet embed` and `python -m jobs.embed`."""

from __future__ import annotations

import argparse
import json
import sys

from actors.config import BACKENDS, DTYPES, QUANTIZE_CHOICES
from jobs.config import (
    DEFAULT_MAX_CHUNKS,
    FORMATS,
    MODES,
    build_config,
    flat_settings,
    load_spec,
)
from storage.defaults import DB_ENV, DEFAULT_DB, DEFAULT_INDEX_KIND, INDEX_KINDS
from storage.errors import ConfigError


def add_embed_arguments(parser: argparse.ArgumentParser) -> None:
    """The embed command's flags (shared with `python -m jobs.embed`)."""
    parser.add_argument("source", nargs="*", help="files, directories or globs (or in --spec)")
    parser.add_argument("--table", help="table name")
    parser.add_argument("--db", help=f"database folder (default ${DB_ENV}, else {DEFAULT_DB})")
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
    parser.add_argument("--dtype", choices=DTYPES, help="stored vector type")
    parser.add_argument("--backend", choices=BACKENDS,
                        help="torch (default), onnx (ONNX Runtime) or openvino; the CPU backends "
                             "export the model once to ~/.cache/embedfleet")
    parser.add_argument("--quantize", choices=QUANTIZE_CHOICES,
                        help="compute precision: int8 with onnx, bf16 with torch or openvino "
                             "(CPUs with AMX / AVX-512 BF16); default none (fp32)")
    parser.add_argument("--keep-full", action="store_true", default=None,
                        help="with --truncate-dim, also store the full vector as vector_full")
    parser.add_argument("--chunk", action="store_true", default=None,
                        help="embed long documents as token-bounded chunks (one row each) "
                             "instead of cutting them at the model's window")
    parser.add_argument("--chunk-tokens", type=int,
                        help="model tokens per chunk (default: all the window holds)")
    parser.add_argument("--chunk-overlap", type=int,
                        help="tokens shared by neighbouring chunks (default: a fifth of a chunk)")
    parser.add_argument("--chunk-header", metavar="COLUMN",
                        help="a carried column (a title, say) that heads every chunk as it is "
                             "embedded, cut to 32 tokens; the stored chunk text stays the document's")
    parser.add_argument("--max-chunks", type=int,
                        help="reject a document that would give more chunks than this "
                             f"(default {DEFAULT_MAX_CHUNKS})")
    parser.add_argument("--index-threshold", type=int,
                        help="build or refresh the ANN index once the table has this many rows "
                             "(default 100000)")
    parser.add_argument("--index-type", choices=INDEX_KINDS,
                        help=f"ANN index kind (default {DEFAULT_INDEX_KIND})")
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
    parser.add_argument("--settings", help="all settings as one JSON object, flat or in sections "
                        "(what `embedfleet submit` passes: a config's to_dict); --spec and flags "
                        "override it")
    parser.add_argument("--run-id", help="id for this run in the runs table (default: generated)")
    parser.add_argument("--dry-run", action="store_true", default=None,
                        help="plan only: rows to embed, rejects, tokens, rows over the model's "
                             "window and an estimated time; commits nothing")
    parser.add_argument("--fresh", action="store_true", default=None,
                        help="discard what a dead run of this table wrote instead of resuming "
                             "it (by default the same command resumes a run that died)")
    parser.add_argument("--json", action="store_true",
                        help="print only the summary, as JSON: stdout holds nothing else (no "
                             "progress; Ray's own messages go to stderr)")
    parser.add_argument("--verbose", action="store_true",
                        help="also show Ray Data's own operator logs and progress bars")


def embed_settings(args: argparse.Namespace) -> dict:
    """--settings, then the spec file's settings, overridden by the flags that were given."""
    try:
        settings = json.loads(args.settings) if getattr(args, "settings", None) else {}
    except ValueError as exc:
        raise ConfigError(f"--settings is not a JSON object: {exc}") from exc
    if not isinstance(settings, dict):
        raise ConfigError("--settings must be a JSON object of settings")
    # Flat first, so that a flag replaces one setting of a section, not the whole section.
    settings = flat_settings(settings)
    if args.spec:
        settings.update(load_spec(args.spec))
    flags = {k: v for k, v in vars(args).items()
             if k not in ("command", "spec", "json", "verbose", "source", "func", "settings")
             and v is not None}
    settings.update(flags)
    if args.source:
        settings["paths"] = args.source
    return settings


def cmd_embed(args: argparse.Namespace) -> int:
    """Embed a corpus into a table and print the run summary."""
    import ray

    from jobs.embed.progress import ProgressReporter

    config = build_config(embed_settings(args))
    # Progress goes to stderr: a bar on a terminal, a line every 10 s in a job's log.
    progress = ProgressReporter(enabled=not args.json, verbose=args.verbose)
    # stdout carries the summary (or the JSON) alone. Ray prints its nodes' warnings
    # ("(raylet) WARNING: ...") to sys.stdout from a listener thread until it disconnects: they
    # go to stderr while the run lasts, and a command that joined Ray itself leaves it before
    # printing.
    leave_ray = not ray.is_initialized()
    stdout, sys.stdout = sys.stdout, sys.stderr
    try:
        return _embed_and_print(config, progress, stdout, as_json=args.json, leave_ray=leave_ray)
    finally:
        sys.stdout = stdout


def _embed_and_print(config, progress, out, as_json: bool, leave_ray: bool = False) -> int:
    """Run (or dry-run) the embed job and print its summary or report to `out`."""
    import ray

    from jobs.embed.run import run_embed
    from jobs.errors import UserError, root_cause

    try:
        if config.dry_run:
            from jobs.embed.dry_run import dry_run

            report = dry_run(config, progress)
            text = report.to_json() if as_json else "\n".join(report.lines())
        else:
            summary = run_embed(config, progress)
            text = summary.to_json() if as_json else summary.line()
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed run is reported, not dumped
        what = ("dry run failed (it changes no table)" if config.dry_run else
                f"run failed, table {config.table!r} left at its previous version")
        print(f"embedfleet: {what}: {root_cause(exc)}", file=sys.stderr)
        return 1
    finally:
        if leave_ray:
            ray.shutdown()
    print(text, file=out)
    return 0
