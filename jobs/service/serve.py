"""`embedfleet serve` on Ray Serve: replicas that each hold the query actors of their tables."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable

from ray import serve

from jobs.ray_connect import connect_ray
from storage.db import db_path

APP_NAME = "embedfleet"
log = logging.getLogger("embedfleet.service")


# Requests a replica takes at once: enough for a full batch of searches to gather while the
# previous batch runs (beyond it, Serve's proxy queues them).
MAX_ONGOING = 128


# A stopping replica checks for requests still in flight every 0.2 s (Serve's default is 2 s,
# most of a stop's time) and gives them at most 5 s: SIGTERM must end the service in seconds.
@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=MAX_ONGOING,
                  graceful_shutdown_wait_loop_s=0.2, graceful_shutdown_timeout_s=5)
@serve.ingress()
class QueryService:
    """One replica: a small LRU of QueryActors (one per table) behind the FastAPI app."""

    def __init__(self, db: str, token: str | None = None, max_tables: int = 4,
                 max_batch: int | None = None, batch_wait_ms: float | None = None):
        from actors.projection.core import warm_umap
        from jobs.service.defaults import DEFAULT_MAX_BATCH, DEFAULT_WAIT_MS
        from jobs.service.tables import Tables

        self.tables = Tables(db, max_tables, max_batch or DEFAULT_MAX_BATCH,
                             DEFAULT_WAIT_MS if batch_wait_ms is None else batch_wait_ms)
        self.token = token
        # numba compiles UMAP's kernels once per process: start now so the first map is quick.
        threading.Thread(target=warm_umap, name="umap-warm-up", daemon=True).start()
        # Serve reports the replica ready only when __init__ returns: load the tables' models
        # (and answer one query on each) now, so no user's first query pays for it.
        opened = self.tables.preload()
        log.info("replica ready; tables open: %s", ", ".join(opened) or "none")

    def __serve_build_asgi_app__(self):
        from jobs.service.app import build_app

        return build_app(self.tables, self.token)


def start_service(db: str, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
                  replicas: int = 1, cpus_per_replica: float = 1, max_tables: int = 4,
                  address: str | None = None, max_batch: int | None = None,
                  batch_wait_ms: float | None = None, ingress: str = "python") -> str:
    """Deploy the service on Ray Serve (joining or starting Ray); return its URL once it is ready.

    `ingress="haproxy"` needs the environment `prepare_ingress` sets before Ray starts.
    """
    from jobs.service.ingress import HAPROXY_FLAG, check_haproxy

    connect_ray(address)
    if ingress == "haproxy":
        check_haproxy(cluster_environment(HAPROXY_FLAG) == "1")
    serve.start(http_options={"host": host, "port": port})
    app = QueryService.options(num_replicas=replicas,
                               ray_actor_options={"num_cpus": cpus_per_replica}) \
        .bind(db_path(db), token, max_tables, max_batch, batch_wait_ms)
    # Returns once every replica's __init__ (which loads the models) has finished.
    serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
    return f"http://{host}:{port}"


def cluster_environment(name: str) -> str | None:
    """A variable of the environment Ray's workers run with (what Serve's processes read)."""
    import ray

    return ray.get(ray.remote(num_cpus=0)(_environment_variable).remote(name))


def _environment_variable(name: str) -> str | None:
    import os

    return os.environ.get(name)


def stop_service() -> None:
    """Remove the app; stop Serve too unless other applications still run on it."""
    from ray.serve.exceptions import RayServeException

    # Deleting the app first drains its replica in seconds; shutting Serve down with the app
    # still deployed waits out the controller's 30 s timeout.
    try:
        serve.delete(APP_NAME)
    except RayServeException:  # stopped before Serve had started: nothing to remove
        return
    if not serve.status().applications:
        serve.shutdown()


def serve_forever(announce: Callable[[str], None], address: str | None = None, **options) -> None:
    """Start the service, announce its URL, block until Ctrl-C or SIGTERM, then stop it."""
    connect_ray(address)
    # After ray.init, which sets its own SIGTERM handler (sys.exit mid-call, skipping the stop):
    # SIGTERM now unwinds like Ctrl-C's KeyboardInterrupt, at start-up too.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        announce(start_service(address=address, **options))
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        # A second signal must not cut the clean stop short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("stopping the service", flush=True)
        stop_service()


def _interrupt(*_) -> None:
    raise KeyboardInterrupt
