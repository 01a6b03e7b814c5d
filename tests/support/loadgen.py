"""A bounded HTTP load generator for the query service: N clients, a time limit, a request cap.

Each client keeps one keep-alive connection and sends requests back to back; the run stops at
the time limit or when the shared request budget is spent, whichever comes first.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from itertools import count
from urllib.parse import urlsplit

import numpy as np

from jobs.service.ingress import free_port  # noqa: F401 - the tests' and benches' import


@dataclass
class LoadResult:
    """Latencies of the successful requests and what went wrong with the others."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        """Requests answered, successfully or not."""
        return len(self.latencies) + sum(self.errors.values())

    def merge(self, other: LoadResult) -> None:
        """Add another run's time, latencies and errors to this one."""
        self.seconds += other.seconds
        self.latencies += other.latencies
        for kind, n in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n

    def summary(self) -> dict:
        """Counts, error rate, throughput and p50/p99 latency in milliseconds."""
        ms = np.asarray(self.latencies) * 1000 if self.latencies else np.zeros(1)
        return {"requests": self.requests, "errors": sum(self.errors.values()),
                "error_rate": round(sum(self.errors.values()) / max(self.requests, 1), 4),
                "error_kinds": dict(self.errors), "seconds": round(self.seconds, 1),
                "requests_per_s": round(self.requests / max(self.seconds, 1e-9), 1),
                "p50_ms": round(float(np.percentile(ms, 50)), 1),
                "p99_ms": round(float(np.percentile(ms, 99)), 1)}


def run_load(url: str, paths: list[str], clients: int = 8, seconds: float = 30.0,
             max_requests: int = 100_000, headers: dict | None = None) -> LoadResult:
    """GET the paths round-robin from `clients` threads until the time or request budget ends."""
    target = urlsplit(url)
    if target.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"load tests only target this machine's loopback, not {target.hostname}")
    result, lock, budget = LoadResult(), threading.Lock(), count()
    deadline = time.monotonic() + seconds

    def client(number: int) -> None:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        i = number
        while time.monotonic() < deadline and next(budget) < max_requests:
            path = paths[i % len(paths)]
            i += clients
            start = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers or {})
                response = connection.getresponse()
                response.read()
                outcome = None if response.status == 200 else f"HTTP {response.status}"
            except (OSError, http.client.HTTPException) as exc:
                outcome = type(exc).__name__
                connection.close()
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            elapsed = time.perf_counter() - start
            with lock:
                if outcome is None:
                    result.latencies.append(elapsed)
                else:
                    result.errors[outcome] = result.errors.get(outcome, 0) + 1
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    result.seconds = time.monotonic() - started
    return result


def wait_healthy(url: str, process, timeout: float, log_path) -> None:
    """Wait for the 'serving' line (the service reports ready) and GET /health answering 200.

    Fails with the log's tail if the server dies or the timeout passes.
    """
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            if "serving http" in open(log_path).read():
                with urllib.request.urlopen(url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("embedfleet serve did not come up:\n"
                               + open(log_path).read()[-3000:])
        time.sleep(0.2)


class ServeProcess:
    """`embedfleet serve` in its own process, joined to the Ray at `address`, stopped on exit."""

    # Tests pass their session cluster's address, so no second Ray starts beside it; the default
    # 'local' gives the process a private Ray (what the HTTP benchmark wants: the cores to itself).
    def __init__(self, db: str, port: int, log_path: str, args: tuple[str, ...] = (),
                 env: dict | None = None, timeout: float = 180, address: str = "local"):
        self.db, self.port, self.log_path, self.args = db, port, log_path, args
        self.address, self.env, self.timeout = address, env, timeout
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> ServeProcess:
        import os
        import subprocess
        import sys

        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env.update(self.env or {})
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in __exit__
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jobs.cli.main", "serve", "--db", self.db, "--port", str(self.port),
             "--address", self.address, *self.args],
            stdout=self._log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_healthy(self.url, self.process, self.timeout, self.log_path)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def stop(self, timeout: float = 60) -> tuple[int | None, float]:
        """SIGTERM the process; its exit code (None if it had to be killed) and seconds taken."""
        import signal
        import subprocess

        if self.process.poll() is not None:
            return self.process.returncode, 0.0
        start = time.perf_counter()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = None
        return code, time.perf_counter() - start

    def __exit__(self, *exc) -> None:
        self.stop()
        self._log.close()


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on the port, read from /proc/net/tcp{,6}."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(_decode_address(address))
    return found


def _decode_address(hex_address: str) -> str:
    import ipaddress

    raw = bytes.fromhex(hex_address)
    # The kernel prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))
