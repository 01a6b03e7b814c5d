"""`embedfleet serve` on Ray Serve: replicas that each hold the query actors of their tables."""

from __future__ import annotations

import logging
import signal
import threading
import time

from ray import serve

from storage.db import db_path

APP_NAME = "embedfleet"
log = logging.getLogger("embedfleet.service")


@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=32)
@serve.ingress()
class QueryService:
    """One replica: a small LRU of QueryActors (one per table) behind the FastAPI app."""

    def __init__(self, db: str, token: str | None = None, max_tables: int = 4):
        from actors.projection.core import warm_umap
        from jobs.service.app import Tables

        self.tables, self.token = Tables(db, max_tables), token
        # numba compiles UMAP's kernels once per process: start now so the first map is quick.
        threading.Thread(target=warm_umap, name="umap-warm-up", daemon=True).start()

    def __serve_build_asgi_app__(self):
        from jobs.service.app import build_app

        return build_app(self.tables, self.token)


def start_service(db: str, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
                  replicas: int = 1, cpus_per_replica: float = 1, max_tables: int = 4,
                  address: str | None = None) -> str:
    """Deploy the service on Ray Serve (joining or starting Ray) and return its URL."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, logging_level=logging.WARNING)
    serve.start(http_options={"host": host, "port": port})
    app = QueryService.options(num_replicas=replicas,
                               ray_actor_options={"num_cpus": cpus_per_replica}) \
        .bind(db_path(db), token, max_tables)
    serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
    return f"http://{host}:{port}"


def stop_service() -> None:
    """Remove the app; stop Serve too unless other applications still run on it."""
    # Deleting the app first drains its replica in seconds; shutting Serve down with the app
    # still deployed waits out the controller's 30 s timeout.
    serve.delete(APP_NAME)
    if not serve.status().applications:
        serve.shutdown()


def serve_forever(url: str) -> None:
    """Block until Ctrl-C or SIGTERM, then stop the service."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.is_set():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print(f"stopping {url}", flush=True)
        stop_service()
