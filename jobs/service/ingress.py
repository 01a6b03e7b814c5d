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
import random
import socket
from pathlib import Path

from storage.errors import ConfigError

INGRESSES = ("python", "haproxy")
HAPROXY_FLAG = "RAY_SERVE_ENABLE_HA_PROXY"


# A port the kernel picks (bind to port 0) comes from its ephemeral range, which every outgoing
# connection also draws from; Ray's workers listen on 10002-19999 by default. Between picking a
# port and its user binding it, Ray starts processes for seconds, and one of them once took an
# HAProxy stats port picked that way. Ports are picked above both ranges' reach instead.
FIRST_PICKED_PORT = 20000
LINUX_EPHEMERAL = (32768, 60999)


def ephemeral_ports() -> range:
    """The ports the kernel hands out by itself (Linux's setting; its default elsewhere)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = LINUX_EPHEMERAL
    return range(low, high + 1)


def bindable(port: int) -> bool:
    """Whether nothing holds `port` on any address now."""
    with socket.socket() as s:
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports nothing listens on, from outside the kernel's ephemeral range."""
    ephemeral = ephemeral_ports()
    candidates = [p for p in range(FIRST_PICKED_PORT, 65536) if p not in ephemeral]
    random.shuffle(candidates)  # two pickers at once (test workers, services) rarely meet
    picked = []
    for port in candidates:
        if bindable(port):
            picked.append(port)
            if len(picked) == count:
                return picked
    # The kernel's range covers (nearly) every port here: let it pick, as nothing else can.
    return picked + kernel_picked_ports(count - len(picked))


def kernel_picked_ports(count: int) -> list[int]:
    """`count` distinct ports the kernel picks, held open together so none is picked twice."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    """A TCP port nothing listens on, which no other process is handed by the kernel meanwhile."""
    return free_ports(1)[0]


def haproxy_environment() -> dict[str, str]:
    """The variables that switch Serve to HAProxy, for a Ray cluster about to start here."""
    stats, metrics = free_ports(2)
    return {
        HAPROXY_FLAG: "1",
        # A replica that stops keeps answering for 30 s by default, for HAProxy on other
        # nodes to notice; one machine needs a second, and SIGTERM must end serve in seconds.
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "1",
        # HAProxy's stats page and metrics exporter take fixed ports (8404, 9101) by default:
        # free ones let two services (or a test's and a user's) run on one machine.
        "RAY_SERVE_HAPROXY_STATS_PORT": str(stats),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(metrics),
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
