"""Operations commands: versions, restore, submit (Ray job API) and schedule."""

from __future__ import annotations

import argparse
import json
import logging
import sys


def cmd_versions(args: argparse.Namespace) -> int:
    """Print every version of a table: when, rows, model, and the run that wrote it."""
    from storage.versions import table_versions

    versions = table_versions(args.db, args.table)
    if args.json:
        print(json.dumps(versions, default=str))
        return 0
    print(f"{'version':>7}  {'written':<19}  {'rows':>9}  {'dim':>5}  {'mode':<11} model")
    for v in versions:
        mark = " *" if v["current"] else ""
        print(f"{v['version']:>7}  {v['timestamp']:%Y-%m-%d %H:%M:%S}  {v['rows']:>9}  "
              f"{v['dim'] if v['dim'] is not None else '-':>5}  {v['mode'] or '-':<11} "
              f"{v['model'] or '-'}{mark}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Make an earlier version the table's content again (as a new version; nothing is lost)."""
    from storage.versions import restore_version

    version = restore_version(args.db, args.table, args.version)  # a VersionError is one line, exit 2
    print(f"{args.table}: version {args.version} restored as version {version}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    """Submit the embed job in SPEC to a Ray cluster, stream its logs, exit with its status."""
    from jobs.ops.submit import client_for, follow, job_config, submit

    config = job_config(args.spec, {"mode": args.mode, "table": args.table})
    client = client_for(args.address)
    job_id = submit(client, config)
    print(f"embedfleet: submitted job {job_id} to {args.address}", flush=True)
    if args.no_wait:
        print(job_id)
        return 0
    try:
        status = follow(client, job_id)
    except KeyboardInterrupt:
        print(f"\nembedfleet: job {job_id} keeps running; stop it with "
              f"`ray job stop {job_id} --address {args.address}`", file=sys.stderr)
        return 130
    print(f"embedfleet: job {job_id} {status}", file=sys.stderr if status != "SUCCEEDED" else sys.stdout)
    return 0 if status == "SUCCEEDED" else 1


def cmd_schedule(args: argparse.Namespace) -> int:
    """Run SPEC at every cron tick, one run at a time, until stopped."""
    from jobs.ops.launch import launcher
    from jobs.ops.schedule import Scheduler, parse_cron
    from jobs.ops.submit import job_config
    from storage.runs import list_runs, record_run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cron = parse_cron(args.cron)
    config = job_config(args.spec, submitted=args.address is not None)
    start, elsewhere = launcher(config, args.address)

    def recorded(run_id: str) -> bool:
        return any(r["run_id"] == run_id for r in list_runs(config.db, config.table))

    scheduler = Scheduler(cron=cron, start=start, running_elsewhere=elsewhere, recorded=recorded,
                          record=lambda entry, t0, t1: record_run(config.db, config.table, entry,
                                                                  t0, t1))
    print(f"embedfleet: scheduling {config.table!r} at {cron!r} "
          f"({'Ray jobs on ' + args.address if args.address else 'local runs'}); Ctrl-C stops",
          flush=True)
    try:
        history = scheduler.run(max_ticks=args.max_ticks, duration=args.duration)
    except KeyboardInterrupt:
        return 130
    counts = {s: sum(1 for h in history if h["status"] == s)
              for s in ("started", "skipped", "succeeded", "failed")}
    print(f"embedfleet: schedule ended: {json.dumps(counts)}")
    return 0


def register(sub, default_db: str) -> None:
    """Add the versions, restore, submit and schedule commands."""
    from jobs.config import MODES
    from jobs.ops.submit import default_address

    versions = sub.add_parser("versions", help="versions of a table (any can be restored)")
    versions.add_argument("table")
    versions.add_argument("--db", default=default_db)
    versions.add_argument("--json", action="store_true")
    versions.set_defaults(func=cmd_versions)
    restore = sub.add_parser("restore", help="make an earlier version current again")
    restore.add_argument("table")
    restore.add_argument("version", type=int)
    restore.add_argument("--db", default=default_db)
    restore.set_defaults(func=cmd_restore)
    submit = sub.add_parser("submit", help="run an embed spec as a job on a Ray cluster")
    submit.add_argument("spec", help="YAML spec (the settings of `embedfleet embed --spec`)")
    submit.add_argument("--address", default=default_address(),
                        help="Ray job API, e.g. http://127.0.0.1:8265 (default "
                             "$RAY_API_SERVER_ADDRESS or that)")
    submit.add_argument("--no-wait", action="store_true", help="print the job id and return")
    submit.add_argument("--mode", choices=MODES, help="override the spec's mode")
    submit.add_argument("--table", help="override the spec's table")
    submit.set_defaults(func=cmd_submit)
    schedule = sub.add_parser("schedule", help="run an embed spec at every cron tick")
    schedule.add_argument("spec")
    schedule.add_argument("--cron", required=True,
                          help="'0 2 * * *' (local time), or 6 fields with seconds last")
    schedule.add_argument("--address", help="Ray job API to submit each run to (default: run "
                          "each one here as `python -m jobs.embed`)")
    schedule.add_argument("--max-ticks", type=int, help="stop after this many ticks")
    schedule.add_argument("--for", dest="duration", type=float, help="stop after this many seconds")
    schedule.set_defaults(func=cmd_schedule)
