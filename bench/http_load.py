"""Bounded load test of the HTTP service: 8 clients on /search for 30 s, loopback only.

Embeds the bundled sample corpus with the default model, starts `embedfleet serve` in its own
process, and sends top-10 searches (a different query text each time, so every request
embeds a query) from 8 keep-alive clients until 30 s or the request cap have passed.

    python bench/http_load.py --clients 8 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import tempfile
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORDS = ["storm", "planet", "jazz", "football", "bread", "queen", "river", "rain", "market",
         "garden", "virus", "code", "museum", "whale", "orbit", "harvest"]


def query_paths(count: int, k: int) -> list[str]:
    """Distinct three-word queries, so no two requests embed the same text."""
    paths = []
    for i in range(count):
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(3)] + [str(i)]
        paths.append(f"/tables/sample/search?k={k}&q={urllib.parse.quote(' '.join(words))}")
    return paths


def main() -> None:
    """Run the load, print the markdown section, write docs/bench/http_load.json."""
    from jobs.config import build_config
    from jobs.embed.run import run_embed
    from tests.support.loadgen import ServeProcess, free_port, run_load

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--out", default=str(REPO / "docs" / "bench" / "http_load.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="embedfleet-load-") as root:
        db = f"{root}/db"
        run_embed(build_config({"table": "sample", "db": db, "mode": "create",
                                "paths": [str(REPO / "examples" / "sample_corpus.jsonl")]}))
        import ray

        ray.shutdown()  # the service runs its own local Ray; leave the cores to it
        with ServeProcess(db, free_port(), f"{root}/serve.log",
                          args=("--replicas", str(args.replicas))) as server:
            run_load(server.url, query_paths(16, 10), clients=2, seconds=3)  # warm-up
            result = run_load(server.url, query_paths(5000, 10), args.clients, args.seconds,
                              args.max_requests)
    summary = {"clients": args.clients, "replicas": args.replicas, **result.summary()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2))
    print("## HTTP service under load\n")
    print(f"`python bench/http_load.py`: {args.clients} clients, {args.seconds:g} s, GET "
          "/tables/sample/search (top 10, a new query text per request, default model), "
          f"{args.replicas} Serve replica(s), loopback.\n")
    print("| requests | errors | error rate | requests/s | p50 ms | p99 ms |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {summary['requests']} | {summary['errors']} | {summary['error_rate']} | "
          f"{summary['requests_per_s']} | {summary['p50_ms']} | {summary['p99_ms']} |")


if __name__ == "__main__":
    main()
