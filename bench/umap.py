"""UMAP projection timings: numba warm-up, first (computed) and second (cached) calls, trust.

Vectors are synthetic, shaped like sentence embeddings (unit vectors around cluster centres,
the same generator as the query-latency benchmark), written to a LanceDB table with
embedfleet's schema; each projection goes through `project_table`, the code the query actor
and the HTTP service run, so the figures include sampling, the LanceDB reads and the cache.

    python bench/umap.py --sizes 2000 10000
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# This file is named like the umap package: keep its folder off the path so `import umap`
# finds umap-learn, and load the sibling benchmark's functions by file instead.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]


def _sibling(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


machine = _sibling("machine")
query_latency = _sibling("query_latency")
clustered_unit_vectors, write_table = query_latency.clustered_unit_vectors, query_latency.write_table


def warm_up() -> dict:
    """Seconds to import umap-learn and to JIT-compile its kernels (once per process)."""
    start = time.perf_counter()
    import umap  # noqa: F401

    imported = time.perf_counter() - start
    from actors.projection.core import warm_umap

    return {"import_s": round(imported, 2), "jit_s": round(warm_umap(), 2)}


def bench_size(db: str, n: int) -> dict:
    """One projection of n rows: computed, then read back from the cache."""
    from actors.projection.project import project_table

    start = time.perf_counter()
    made = project_table(db, "bench", n=n, seed=0)
    first = time.perf_counter() - start
    start = time.perf_counter()
    again = project_table(db, "bench", n=n, seed=0)
    second = time.perf_counter() - start
    assert again.cached and (again.coords == made.coords).all()
    return {"n": n, "first_s": round(first, 2), "umap_s": made.extra["umap_seconds"],
            "cached_ms": round(second * 1000, 1), "trustworthiness": round(made.trustworthiness, 4)}


def markdown(result: dict) -> str:
    """The BENCHMARKS.md section."""
    w = result["warm_up"]
    lines = ["## UMAP projections (cosine, 384-d)", "",
             f"Machine: {result['machine']}; {result['note']}. "
             f"Command: `python bench/umap.py`. Synthetic clustered unit vectors "
             f"in a {result['rows']:,}-row table; defaults n_neighbors 15, min_dist 0.1, seed 0; exact "
             "cosine neighbour graph (numpy), then UMAP's layout.", "",
             f"numba warm-up, once per process (query actor or Serve replica): import umap-learn "
             f"{w['import_s']} s, kernels on a 32-point array {w['jit_s']} s (compiled by a "
             "machine's first map, then loaded from numba's on-disk cache: "
             "actors/projection/kernels.py).", "",
             "| sample | first call s | of which UMAP s | cached call ms | trustworthiness (k=10) |",
             "|---:|---:|---:|---:|---:|"]
    for r in result["results"]:
        lines.append(f"| {r['n']:,} | {r['first_s']} | {r['umap_s']} | {r['cached_ms']} | "
                     f"{r['trustworthiness']} |")
    lines += ["", "The first call includes sampling, reading the vectors, the kNN graph, UMAP, "
              "trustworthiness and writing the cache row; the cached call reads coordinates and "
              "texts back for the same table version."]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Time every size, print the markdown section, write docs/bench/umap.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10_000])
    parser.add_argument("--rows", type=int, default=20_000, help="rows in the synthetic table")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--out", default=str(REPO / "docs" / "bench" / "umap.json"))
    args = parser.parse_args()
    result = {"machine": machine.machine_name(), **machine.load_note(), "rows": args.rows}
    result["warm_up"] = warm_up()
    with tempfile.TemporaryDirectory(prefix="embedfleet-bench-") as root:
        vectors = clustered_unit_vectors(args.rows, args.dim, centres=max(20, args.rows // 500), seed=1)
        write_table(f"{root}/db", "bench", vectors)
        result["results"] = [bench_size(f"{root}/db", n) for n in args.sizes]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(markdown(result))


if __name__ == "__main__":
    main()
