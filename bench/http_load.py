"""Bounded load test of the HTTP service, batching off against on, at 8 and 32 clients, loopback only.

Embeds the bundled sample corpus with the default model, starts `embedfleet serve` twice in
their own processes (`--max-batch 1`: batching off; and the default batch), and sends top-10
searches (a different query text each time, so every request embeds a query) from each client
count. On a machine shared with other work the load drifts by the minute, so the two settings
take turns in short rounds (off-on, then on-off) and each row sums its rounds.

    python bench/http_load.py --clients 8,32 --seconds 30 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
WORDS = ["storm", "planet", "jazz", "football", "bread", "queen", "river", "rain", "market",
         "garden", "virus", "code", "museum", "whale", "orbit", "harvest"]


def query_paths(count: int, k: int, start: int = 0) -> list[str]:
    """Distinct three-word queries, so no two requests embed the same text."""
    paths = []
    for i in range(start, start + count):
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(3)] + [str(i)]
        paths.append(f"/tables/sample/search?k={k}&q={urllib.parse.quote(' '.join(words))}")
    return paths


def measure(db: str, root: str, clients: list[int], args) -> list[dict]:
    """Both settings served at once and loaded in turns; one row per setting and client count."""
    from contextlib import ExitStack

    from tests.support.loadgen import LoadResult, ServeProcess, free_port, run_load

    batches = [1, args.max_batch]
    totals = {(b, c): LoadResult() for b in batches for c in clients}
    loads = {key: [] for key in totals}
    paths = iter(range(0, 10**9, 5000))
    with ExitStack() as stack:
        servers = {b: stack.enter_context(ServeProcess(
            db, free_port(), f"{root}/serve-{b}.log",
            args=("--replicas", str(args.replicas), "--max-batch", str(b)))) for b in batches}
        for server in servers.values():
            run_load(server.url, query_paths(16, 10), clients=2, seconds=3)  # warm-up
        for turn in range(args.rounds):
            for count in clients:
                for b in (batches if turn % 2 == 0 else batches[::-1]):
                    got = run_load(servers[b].url, query_paths(5000, 10, next(paths)), count,
                                   args.seconds / args.rounds, args.max_requests)
                    totals[b, count].merge(got)
                    loads[b, count].append(os.getloadavg()[0])
    rows = []
    for (b, count), result in totals.items():
        rows.append({"max_batch": b, "clients": count, **result.summary(),
                     "load_avg": round(sum(loads[b, count]) / len(loads[b, count]), 1)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def report(rows: list[dict], args, machine: str) -> str:
    """The markdown section for docs/BENCHMARKS.md."""
    lines = ["## HTTP service under load", "",
             f"`python bench/http_load.py --clients {args.clients} --seconds {args.seconds:g} "
             f"--rounds {args.rounds}`: GET /tables/sample/search (top 10, a new query text per "
             f"request, default model), {args.replicas} Serve replica(s) per setting, loopback; "
             f"batching off (`--max-batch 1`) and on (`--max-batch {args.max_batch}`, 5 ms wait) "
             f"served side by side and loaded in turns, {args.seconds:g} s per row in "
             f"{args.rounds} rounds. {machine}.", "",
             "| batching | clients | requests | errors | requests/s | p50 ms | p99 ms | load avg |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        mode = "off" if r["max_batch"] == 1 else f"on ({r['max_batch']})"
        lines.append(f"| {mode} | {r['clients']} | {r['requests']} | {r['errors']} | "
                     f"{r['requests_per_s']} | {r['p50_ms']} | {r['p99_ms']} | {r['load_avg']} |")
    lines.append("")
    for count in sorted({r["clients"] for r in rows}):
        off = next(r for r in rows if r["clients"] == count and r["max_batch"] == 1)
        on = next(r for r in rows if r["clients"] == count and r["max_batch"] != 1)
        lines.append(f"- {count} clients: batching gives {on['requests_per_s'] / off['requests_per_s']:.1f}x "
                     f"the requests/s, p99 {on['p99_ms']} ms against {off['p99_ms']} ms.")
    return "\n".join(lines)


def main() -> None:
    """Run both settings, print the markdown section, write docs/bench/http_load.json."""
    from machine import load_note, machine_name

    from jobs.config import build_config
    from jobs.embed.run import run_embed

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", default="8,32", help="client counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--max-batch", type=int, default=32, help="the batched setting's batch")
    parser.add_argument("--rounds", type=int, default=3, help="turns each setting takes")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--out", default=str(REPO / "docs" / "bench" / "http_load.json"))
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory(prefix="embedfleet-load-") as root:
        db = f"{root}/db"
        run_embed(build_config({"table": "sample", "db": db, "mode": "create",
                                "paths": [str(REPO / "examples" / "sample_corpus.jsonl")]}))
        import ray

        ray.shutdown()  # each service runs its own local Ray; leave the cores to it
        note = load_note()
        rows = measure(db, root, clients, args)
    machine = f"{machine_name()}; {note['note']}"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    print(report(rows, args, machine))


if __name__ == "__main__":
    main()
