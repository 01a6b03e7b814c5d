"""Which HTTP front end Ray Serve puts before the replicas: its Python proxy, or HAProxy.

`python` (Serve's default): every request passes through a Python proxy actor, then a Ray call
into the replica. `haproxy` (Serve's high-throughput mode, Ray 2.55+): HAProxy, a C load
balancer, forwards HTTP straight to the replica's own server, so a request costs no Python
outside the replica (docs/BENCHMARKS.md measures both). Serve reads these settings from the
environment of its controller and replicas when they start, so this process sets them before it
starts a local Ray; a cluster it joins must have been started with them (cluster.yaml says how).
"""

from __future__ import annotations

import os
import socket

from storage.errors import ConfigError

INGRESSES = ("python", "haproxy")
HAPROXY_FLAG = "RAY_SERVE_ENABLE_HA_PROXY"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def haproxy_environment() -> dict[str, str]:
    """The variables that switch Serve to HAProxy, for a Ray cluster about to start here."""
    return {
        HAPROXY_FLAG: "1",
        # A replica that stops keeps answering for 30 s by default, for HAProxy on other
        # nodes to notice; one machine needs a second, and SIGTERM must end serve in seconds.
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "1",
        # HAProxy's stats page and metrics exporter take fixed ports (8404, 9101) by default:
        # free ones let two services (or a test's and a user's) run on one machine.
        "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
    }


def prepare_ingress(ingress: str) -> None:
    """Before Ray or Serve start in this process: set the environment the ingress needs."""
    if ingress not in INGRESSES:
        raise ConfigError(f"--ingress must be one of {', '.join(INGRESSES)}, got {ingress!r}")
    if ingress == "haproxy":
        for name, value in haproxy_environment().items():
            os.environ.setdefault(name, value)  # the user's own setting wins


def check_haproxy(cluster_has_it: bool) -> None:
    """Before Serve starts: refuse --ingress haproxy on a cluster whose Serve would run without it."""
    if not cluster_has_it:
        raise ConfigError(
            "--ingress haproxy: the Ray cluster this joined was started without "
            f"{HAPROXY_FLAG}=1, so Serve runs its Python proxy; start the cluster with "
            f"{HAPROXY_FLAG}=1 in its environment (cluster.yaml), or use --ingress python")
