"""Bounded load test of the HTTP service, batching off against on, at 8 and 32 clients, loopback only.

Embeds the bundled sample corpus with the default model, starts `embedfleet serve` twice in
their own processes (`--max-batch 1`: batching off; and the default batch), once per ingress
(Serve's Python proxy, then HAProxy), and sends top-10 searches (a different query text each
time, so every request embeds a query) from each client count. On a machine shared with other
work the load drifts by the minute, so the two settings take turns in short rounds (off-on,
then on-off) and each row sums its rounds.

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


def query_texts(count: int, start: int = 0) -> list[str]:
    """Distinct three-word queries (and a number), so no two requests embed the same text."""
    return [" ".join([WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(3)] + [str(i)])
            for i in range(start, start + count)]


def query_paths(count: int, k: int, start: int = 0) -> list[str]:
    """Search paths for distinct query texts."""
    return [f"/tables/sample/search?k={k}&q={urllib.parse.quote(text)}"
            for text in query_texts(count, start)]


def model_ceiling(batches: tuple[int, ...] = (1, 8, 32), seconds: float = 4) -> dict[int, float]:
    """Queries/s of the default model alone per batch size, on one thread as in a 1-CPU replica."""
    import time

    import torch
    from sentence_transformers import SentenceTransformer

    from actors.encoders.models import resolve_model_source

    torch.set_num_threads(1)
    model = SentenceTransformer(resolve_model_source("all-MiniLM-L6-v2"), device="cpu")
    texts = query_texts(2000, 10**9)
    rates = {}
    for batch in batches:
        model.encode(texts[:batch], batch_size=batch)  # warm-up
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            model.encode(texts[done % 1900:done % 1900 + batch], batch_size=batch)
            done += batch
        rates[batch] = round(done / (time.perf_counter() - start), 1)
    return rates


def measure(db: str, root: str, clients: list[int], args, ingress: str) -> list[dict]:
    """Both settings served at once and loaded in turns; one row per setting and client count."""
    from contextlib import ExitStack

    from tests.support.loadgen import LoadResult, ServeProcess, free_port, run_load

    batches = [1, args.max_batch]
    totals = {(b, c): LoadResult() for b in batches for c in clients}
    loads = {key: [] for key in totals}
    paths = iter(range(0, 10**9, 5000))
    with ExitStack() as stack:
        servers = {b: stack.enter_context(ServeProcess(
            db, free_port(), f"{root}/serve-{ingress}-{b}.log",
            args=("--replicas", str(args.replicas), "--max-batch", str(b), "--ingress", ingress)))
            for b in batches}
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
        rows.append({"ingress": ingress, "max_batch": b, "clients": count, **result.summary(),
                     "load_avg": round(sum(loads[b, count]) / len(loads[b, count]), 1)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def report(rows: list[dict], args, machine: str, ceiling: dict[int, float]) -> str:
    """The markdown section for docs/BENCHMARKS.md."""
    lines = ["## HTTP service under load", "",
             f"`python bench/http_load.py --clients {args.clients} --seconds {args.seconds:g} "
             f"--rounds {args.rounds} --ingress {args.ingress}`: GET /tables/sample/search (top 10, "
             f"a new query text per request, default model), {args.replicas} Serve replica(s) of "
             f"1 CPU per setting, loopback; per ingress (`serve --ingress`: Serve's Python proxy, "
             f"or HAProxy forwarding straight to the replica), batching off (`--max-batch 1`) and "
             f"on (`--max-batch {args.max_batch}`, 5 ms wait) served side by side and loaded in "
             f"turns, {args.seconds:g} s per row in {args.rounds} rounds. {machine}.", "",
             "| ingress | batching | clients | requests | errors | requests/s | p50 ms | p99 ms | load avg |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        mode = "off" if r["max_batch"] == 1 else f"on ({r['max_batch']})"
        lines.append(f"| {r['ingress']} | {mode} | {r['clients']} | {r['requests']} | {r['errors']} | "
                     f"{r['requests_per_s']} | {r['p50_ms']} | {r['p99_ms']} | {r['load_avg']} |")
    lines.append("")
    for ingress in dict.fromkeys(r["ingress"] for r in rows):
        for count in sorted({r["clients"] for r in rows}):
            same = [r for r in rows if r["clients"] == count and r["ingress"] == ingress]
            off = next(r for r in same if r["max_batch"] == 1)
            on = next(r for r in same if r["max_batch"] != 1)
            lines.append(f"- {ingress}, {count} clients: batching gives "
                         f"{on['requests_per_s'] / off['requests_per_s']:.1f}x the requests/s, "
                         f"p99 {on['p99_ms']} ms against {off['p99_ms']} ms.")
    rates = ", ".join(f"batch {b}: {r} queries/s" for b, r in ceiling.items())
    gains = ", ".join(f"{ceiling[b] / ceiling[1]:.1f}x at batch {b}" for b in ceiling if b != 1)
    lines.append(f"- The model alone in the same run (one thread, as in a 1-CPU replica; {rates}): "
                 f"{gains} over one query per call: the model's own gain from batching (the "
                 f"service also shares each call's fixed costs beyond the model).")
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
    parser.add_argument("--ingress", default="python,haproxy",
                        help="front ends to measure, one after the other (comma-separated)")
    parser.add_argument("--out", default=str(REPO / "docs" / "bench" / "http_load.json"))
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory(prefix="embedfleet-load-") as root:
        db = f"{root}/db"
        run_embed(build_config({"table": "sample", "db": db, "mode": "create",
                                "paths": [str(REPO / "examples" / "sample_corpus.jsonl")]}))
        import ray

        ray.shutdown()  # each service runs its own local Ray; leave the cores to it
        ceiling = model_ceiling(tuple(sorted({1, *clients})))
        note = load_note()
        rows = [row for ingress in args.ingress.split(",")
                for row in measure(db, root, clients, args, ingress)]
    machine = f"{machine_name()}; {note['note']}"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": machine, "rows": rows,
                                          "model_queries_per_s": ceiling}, indent=2))
    print(report(rows, args, machine, ceiling))


if __name__ == "__main__":
    main()
