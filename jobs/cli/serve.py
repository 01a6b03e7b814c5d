"""Seeing the space: `project` (a UMAP map as PNG, HTML or JSON) and `serve` (HTTP API + page)."""

from __future__ import annotations

import ipaddress
import json
import os

from jobs.service.defaults import DEFAULT_MAX_BATCH, DEFAULT_WAIT_MS
from jobs.service.ingress import INGRESSES


def register(sub, default_db: str) -> None:
    """Add the project and serve commands to the CLI."""
    project = sub.add_parser("project", help="UMAP map of a sample of a table: PNG, HTML or JSON")
    project.add_argument("table")
    project.add_argument("--n", type=int, default=5000, help="rows in the sample (default 5000)")
    project.add_argument("--seed", type=int, default=0, help="sample and UMAP seed (default 0)")
    project.add_argument("--color-by", help="colour the points by this column")
    project.add_argument("--n-neighbors", type=int, default=15, help="UMAP n_neighbors (default 15)")
    project.add_argument("--min-dist", type=float, default=0.1, help="UMAP min_dist (default 0.1)")
    project.add_argument("--out", required=True,
                         help="map.png (static), map.html (interactive) or map.json (coordinates)")
    project.add_argument("--db", default=default_db)
    project.add_argument("--json", action="store_true", help="print the summary as JSON")
    project.set_defaults(func=cmd_project)

    serve = sub.add_parser("serve", help="HTTP API and web page on Ray Serve (blocks until Ctrl-C)")
    serve.add_argument("--db", default=default_db)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--token", default=os.environ.get("EMBEDFLEET_TOKEN"),
                       help="require 'Authorization: Bearer TOKEN' (default $EMBEDFLEET_TOKEN)")
    serve.add_argument("--no-token", action="store_true",
                       help="serve a non-loopback --host without a token: anyone who can reach "
                            "it reads every table")
    serve.add_argument("--replicas", type=int, default=1, help="Serve replicas (default 1)")
    serve.add_argument("--cpus-per-replica", type=float, default=1)
    serve.add_argument("--max-tables", type=int, default=4,
                       help="tables each replica keeps open (least recently used close first)")
    serve.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                       help="concurrent searches of a table embedded in one model call "
                            f"(default {DEFAULT_MAX_BATCH}; 1 turns batching off)")
    serve.add_argument("--batch-wait-ms", type=float, default=DEFAULT_WAIT_MS,
                       help="how long a search waits for others to share its batch "
                            f"(default {DEFAULT_WAIT_MS:g} ms)")
    serve.add_argument("--ingress", choices=INGRESSES, default="python",
                       help="HTTP front end: Serve's Python proxy (default) or HAProxy, which "
                            "forwards straight to the replicas (about twice the batched searches/s "
                            "on 2 cores: docs/BENCHMARKS.md); a joined cluster must run with "
                            "RAY_SERVE_ENABLE_HA_PROXY=1")
    serve.add_argument("--address", dest="ray_address",
                       help="Ray cluster to join ('local' starts a private one; default: a running "
                            "local cluster, else a new one)")
    serve.set_defaults(func=cmd_serve)


def cmd_project(args) -> int:
    """Project a sample of the table and write the map."""
    from actors.projection.project import project_table
    from jobs.service.maps import FORMATS, write_map
    from storage.errors import ConfigError

    if not args.out.lower().endswith(FORMATS):
        raise ConfigError(f"--out must end in {', '.join(FORMATS)}, got {args.out!r}")
    made = project_table(args.db, args.table, args.n, args.seed, args.color_by, args.n_neighbors,
                         args.min_dist)
    out = write_map(made.to_dict(), args.out)
    summary = {k: v for k, v in made.to_dict().items() if k not in ("points", "colors")}
    summary["out"] = str(out)
    if args.json:
        print(json.dumps(summary, default=str))
        return 0
    trust = "-" if made.trustworthiness is None else f"{made.trustworthiness:.3f}"
    how = "from the cache" if made.cached else f"computed in {made.extra['umap_seconds']:.1f} s"
    unit = made.extra.get("points_are", "rows")  # a chunked table's map: one point per document
    print(f"{made.table} v{made.version}: {len(made.ids)} of {made.rows} {unit}, trustworthiness "
          f"{trust} (k=10), {how} -> {out}")
    return 0


def cmd_serve(args) -> int:
    """Start the service and block until Ctrl-C or SIGTERM."""
    from jobs.service.ingress import prepare_ingress
    from storage.errors import ConfigError

    if args.replicas < 1 or args.max_tables < 1 or not 0 < args.port < 65536:
        raise ConfigError("--replicas and --max-tables must be at least 1, --port 1..65535")
    if args.max_batch < 1 or args.batch_wait_ms < 0:
        raise ConfigError("--max-batch must be at least 1 and --batch-wait-ms at least 0")
    token = args.token or None
    check_exposure(args.host, token, args.no_token)
    prepare_ingress(args.ingress)  # before ray.serve is imported: it reads them at import
    from jobs.service.serve import serve_forever

    def announce(url: str) -> None:
        print(f"serving {url} (API docs at {url}/docs; Ctrl-C stops)"
              + (" - bearer token required" if token else ""), flush=True)

    serve_forever(announce, args.ray_address, db=args.db, host=args.host, port=args.port,
                  token=token, replicas=args.replicas, cpus_per_replica=args.cpus_per_replica,
                  max_tables=args.max_tables, max_batch=args.max_batch,
                  batch_wait_ms=args.batch_wait_ms, ingress=args.ingress)
    return 0


def check_exposure(host: str, token: str | None, no_token: bool) -> None:
    """Refuse to serve every table to the network without a token, unless told to."""
    from storage.errors import ConfigError

    if token or no_token or is_loopback(host):
        return
    raise ConfigError(
        f"--host {host} serves every table to the network, and no token is set: pass --token TOKEN "
        "or set $EMBEDFLEET_TOKEN (clients then send 'Authorization: Bearer TOKEN'), or pass "
        "--no-token to serve without one")


def is_loopback(host: str) -> bool:
    """Whether an address (or 'localhost') reaches this machine only; unknown names do not."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name could resolve anywhere: treat it as exposed
