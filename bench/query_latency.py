"""Query latency of top-10 cosine search: numpy brute force vs exact search vs LanceDB indexed.

Vectors are synthetic but shaped like sentence embeddings: unit vectors drawn around a few
thousand cluster centres (uniform random vectors in 384-d have no neighbours worth finding, so
they would misjudge any index). Queries are held-out points of the same distribution. Every
search goes through the product's QueryActor, so the figures include its overhead: exact
search from memory (`exact=True`), LanceDB's own flat scan (what a table over the memory budget
gets; fewer queries, it is slow), and the ANN index with the actor's defaults, plus a sweep
over nprobes and refine factors (the recall/latency curve the defaults are picked from).

    python bench/query_latency.py --sizes 100000 1000000 --queries 200
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent


def clustered_unit_vectors(n: int, dim: int, centres: int, seed: int) -> np.ndarray:
    """n unit vectors around `centres` random directions, with per-point noise."""
    rng = np.random.default_rng(seed)
    centre = rng.standard_normal((centres, dim)).astype(np.float32)
    centre /= np.linalg.norm(centre, axis=1, keepdims=True)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        pick = rng.integers(0, centres, stop - start)
        noise = rng.standard_normal((stop - start, dim)).astype(np.float32) * 0.06
        block = centre[pick] + noise
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def write_table(db: str, name: str, vectors: np.ndarray) -> None:
    """A LanceDB table with embedfleet's schema and provenance (model 'fake:DIM')."""
    import lancedb

    from actors.config import ModelConfig
    from storage.provenance import Provenance
    from storage.schema import table_schema, vector_type

    dim = vectors.shape[1]
    provenance = Provenance.build(ModelConfig(model=f"fake:{dim}"), dim, dim)
    schema = table_schema(pa.schema([]), vector_type(dim), provenance)
    table = lancedb.connect(db).create_table(name, schema=schema)
    for start in range(0, len(vectors), 200_000):
        block = vectors[start:start + 200_000]
        n = len(block)
        ids = pa.array([f"v{i}" for i in range(start, start + n)])
        table.add(pa.table({
            "id": ids, "text": ids,
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), dim),
            "content_hash": pa.nulls(n, pa.string()),
            "embedded_at": pa.nulls(n, pa.timestamp("us", tz="UTC")),
        }, schema=schema))


def percentiles(times: list[float]) -> dict:
    """p50 and p99 in milliseconds."""
    ms = np.asarray(times) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2)}


def timed(fn, queries) -> tuple[list, list[float]]:
    """Results and per-query wall times."""
    results, times = [], []
    for q in queries:
        start = time.perf_counter()
        results.append(fn(q))
        times.append(time.perf_counter() - start)
    return results, times


def recall_at_k(found: list[list[str]], truth: list[list[str]]) -> float:
    """Mean share of the true top-k that a search found."""
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def rss_bytes() -> int:
    """Resident memory of this process."""
    import psutil

    return psutil.Process().memory_info().rss


def bench_exact(actor, probes, truth: list[list[str]], flat_queries: int) -> dict:
    """Exact search from memory (first query loads the vectors) and LanceDB's flat scan."""
    before = rss_bytes()
    start = time.perf_counter()
    actor.search(probes[0], 10, exact=True)
    load_s = time.perf_counter() - start
    grown = rss_bytes() - before
    exact, exact_times = timed(lambda q: [h.id for h in actor.search(q, 10, exact=True)], probes)
    over = type(actor)(actor.db, actor.name)
    over._memory.budget = 0  # a table over the budget: LanceDB's flat scan answers
    flat, flat_times = timed(lambda q: [h.id for h in over.search(q, 10, exact=True)],
                             probes[:flat_queries])
    assert over.memory_bytes == 0
    return {
        "exact_memory": {**percentiles(exact_times), "recall@10": round(recall_at_k(exact, truth), 4),
                         "identical_top10": exact == truth, "load_s": round(load_s, 2),
                         "held_bytes": actor.memory_bytes, "rss_growth_bytes": grown},
        "lancedb_flat": {**percentiles(flat_times), "queries": flat_queries,
                         "recall@10": round(recall_at_k(flat, truth[:flat_queries]), 4)},
    }


def sweep(actor, probes, truth, grid: list[tuple[int, int]]) -> list[dict]:
    """p50 and recall@10 of the ANN index at each (nprobes, refine)."""
    out = []
    for nprobes, refine in grid:
        found, times = timed(lambda q, a=nprobes, b=refine: [
            h.id for h in actor.search(q, 10, nprobes=a, refine=b)], probes)
        out.append({"nprobes": nprobes, "refine": refine, **percentiles(times),
                    "recall@10": round(recall_at_k(found, truth), 4)})
    return out


def bench_size(n: int, dim: int, queries: int, kind: str, nprobes: int | None,
               refine: int | None, root: str, flat_queries: int = 20,
               grid: list[tuple[int, int]] | None = None, index: bool = True) -> dict:
    """Every method at one table size."""
    from actors.query.actor import QueryActor
    from actors.query.defaults import ANN_REFINE
    from storage.index import build_index, default_nprobes

    nprobes, refine = nprobes or default_nprobes(n), refine or ANN_REFINE

    data = clustered_unit_vectors(n + queries, dim, centres=max(100, n // 250), seed=n)
    vectors, probes = data[:n], data[n:]
    db, name = f"{root}/db{n}", "bench"
    start = time.perf_counter()
    write_table(db, name, vectors)
    write_s = time.perf_counter() - start
    ids = [f"v{i}" for i in range(n)]

    def numpy_search(q):
        # The vectors are unit length already: one float32 matvec and a partial sort.
        scores = vectors @ q
        top = np.argpartition(-scores, 10)[:10]
        return [ids[i] for i in top[np.argsort(-scores[top])]]

    actor = QueryActor(db, name)
    truth, numpy_times = timed(numpy_search, probes)
    exact = bench_exact(actor, probes, truth, min(flat_queries, queries))
    # numpy again after the exact runs, so a change in how busy the machine is shows up.
    _, numpy_after = timed(numpy_search, probes)
    del actor  # frees the in-memory vectors before the index build
    common = {"rows": n, "dim": dim, "queries": queries, "write_s": round(write_s, 1),
              "numpy": {**percentiles(numpy_times), "recall@10": 1.0,
                        "p50_ms_after": percentiles(numpy_after)["p50_ms"]}, **exact}
    if not index:
        return {**common, "lancedb_index": None, "sweep": []}
    start = time.perf_counter()
    params = build_index(db, name, kind)
    index_s = time.perf_counter() - start
    actor = QueryActor(db, name)
    actor.search(probes[0], 10)  # warm: opens the index
    indexed, index_times = timed(
        lambda q: [h.id for h in actor.search(q, 10, nprobes=nprobes, refine=refine)], probes)
    return {
        **common,
        "lancedb_index": {**percentiles(index_times), "recall@10": round(recall_at_k(indexed, truth), 4),
                          "build_s": round(index_s, 1), "nprobes": nprobes, "refine": refine, **params},
        "sweep": sweep(actor, probes, truth, grid or []),
    }


def markdown(results: list[dict], machine: str, kind: str) -> str:
    """The BENCHMARKS.md section."""
    lines = ["## Query latency (top-10 cosine, 384-d)", "",
             f"Machine: {machine}. Command: `python bench/query_latency.py`. Synthetic clustered unit",
             "vectors; every search goes through `QueryActor` (one query at a time, warm). Exact:",
             "`search(exact=True)`, answered from the vectors the actor holds in memory (float32,",
             "budget `EXACT_MEMORY_BYTES`); LanceDB flat: the same call on a table over that budget",
             "(LanceDB reads and decodes the vector column on every query). Indexed: the actor's",
             f"defaults on a {kind} index. numpy: a float32 matrix-vector product and a partial sort",
             "in the same process, run before and after the exact queries.", "",
             "| rows | method | p50 ms | p99 ms | recall@10 | p50 vs numpy |",
             "|---:|---|---:|---:|---:|---:|"]
    for r in results:
        numpy_p50 = r["numpy"]["p50_ms"]
        for key, label in (("numpy", "numpy brute force (in memory)"),
                           ("exact_memory", "exact, QueryActor in memory"),
                           ("lancedb_flat", f"exact, LanceDB flat ({r['lancedb_flat']['queries']} queries)"),
                           ("lancedb_index", "LanceDB ANN index, actor defaults")):
            m = r[key]
            if m is None:
                continue
            lines.append(f"| {r['rows']:,} | {label} | {m['p50_ms']} | {m['p99_ms']} | "
                         f"{m['recall@10']} | {m['p50_ms'] / numpy_p50:.2f}x |")
    for r in results:
        e, i = r["exact_memory"], r["lancedb_index"]
        lines += ["", f"{r['rows']:,} rows: exact top-10 ids identical to numpy's for every query: "
                  f"{'yes' if e['identical_top10'] else 'no'}; numpy p50 {r['numpy']['p50_ms']} ms "
                  f"before, {r['numpy']['p50_ms_after']} ms after. The actor holds "
                  f"{e['held_bytes'] / 2**20:,.0f} MiB of vectors (its resident memory grew by "
                  f"{e['rss_growth_bytes'] / 2**20:,.0f} MiB), loaded by the first exact query in "
                  f"{e['load_s']} s. Written in {r['write_s']} s."]
        if i:
            lines[-1] += (f" {i['type']} index built in {i['build_s']} s (partitions "
                          f"{i['num_partitions']}, sub-vectors {i.get('num_sub_vectors', '-')}, "
                          f"nprobes {i['nprobes']}, refine {i['refine']}).")
    swept = [r for r in results if r["sweep"]]
    if swept:
        lines += ["", "The index's recall/latency curve (the defaults are picked from it):", "",
                  "| rows | nprobes | refine | p50 ms | p99 ms | recall@10 |",
                  "|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['rows']:,} | {p['nprobes']} | {p['refine']} | {p['p50_ms']} | {p['p99_ms']} | "
                  f"{p['recall@10']} |" for r in swept for p in r["sweep"]]
    return "\n".join(lines) + "\n"


def parse_grid(text: str) -> list[tuple[int, int]]:
    """'20:10,50:30' -> [(20, 10), (50, 30)] (nprobes:refine pairs)."""
    return [tuple(int(v) for v in pair.split(":")) for pair in text.split(",") if pair.strip()]


def main() -> None:
    """Run every size, print the markdown section, write docs/bench/query_latency.json."""
    from actors.query.defaults import ANN_REFINE
    from storage.defaults import DEFAULT_INDEX_KIND, INDEX_KINDS

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--type", dest="kind", default=DEFAULT_INDEX_KIND, choices=INDEX_KINDS)
    parser.add_argument("--nprobes", type=int, help="default: the query actor's for the size")
    parser.add_argument("--refine", type=int, help=f"default: the query actor's ({ANN_REFINE})")
    parser.add_argument("--flat-queries", type=int, default=20,
                        help="queries for LanceDB's flat scan (seconds each at 1M rows)")
    parser.add_argument("--sweep", type=parse_grid, default=[],
                        help="nprobes:refine pairs to measure on the index, e.g. 20:10,50:30")
    parser.add_argument("--no-index", dest="index", action="store_false",
                        help="measure numpy and exact search only (no index build)")
    parser.add_argument("--out", default=str(REPO / "docs" / "bench" / "query_latency.json"))
    args = parser.parse_args()
    from machine import load_note, machine_name

    note = load_note()
    with tempfile.TemporaryDirectory(prefix="embedfleet-bench-") as root:
        results = [bench_size(n, args.dim, args.queries, args.kind, args.nprobes, args.refine, root,
                              args.flat_queries, args.sweep if n == max(args.sizes) else [],
                              args.index)
                   for n in args.sizes]
    machine = f"{machine_name()}; {note['note']}"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": machine, **note, "results": results}, indent=2))
    print(markdown(results, machine, args.kind))


if __name__ == "__main__":
    main()
