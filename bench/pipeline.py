"""Pipeline overhead: a trivial encoder through Ray Data -> actors -> LanceDB, 100k and 1M rows.

The hashing encoder ('fake:384') costs microseconds per row, so the figures are Ray Data's
reading, planning, batching and object transfer plus the Lance fragment writes and the commit.
Each size runs in a fresh child process (its own local Ray); this process samples the memory
of the child and every process under it (raylet, workers) to find the peak.

    python bench/pipeline.py --rows 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine import BENCH_DIR, MemorySampler, load_note, machine_name  # noqa: E402

WORDS = ("storm planet bread recipe music guitar river mountain engine battery protein cell "
         "market price law court vote city train bridge").split()


def write_corpus(path: Path, rows: int) -> None:
    """A parquet corpus of short distinct texts (ids r0, r1, ...)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    with pq.ParquetWriter(path, pa.schema([("id", pa.string()), ("text", pa.string())])) as writer:
        for start in range(0, rows, 100_000):
            stop = min(rows, start + 100_000)
            picks = rng.integers(0, len(WORDS), (stop - start, 8))
            texts = [f"row {i} " + " ".join(WORDS[w] for w in pick)
                     for i, pick in zip(range(start, stop), picks, strict=True)]
            writer.write_table(pa.table({"id": [f"r{i}" for i in range(start, stop)],
                                         "text": texts}))


def run_child(rows: int, batch_size: int, out: Path) -> None:
    """In the child: write the corpus, start Ray, run the job, write its summary to `out`."""
    import ray

    from jobs.config import build_config
    from jobs.embed.run import run_embed
    from jobs.ray_connect import connect_ray

    with tempfile.TemporaryDirectory(prefix="embedfleet-bench-") as root:
        source = Path(root) / "corpus.parquet"
        write_corpus(source, rows)
        connect_ray()
        summary = run_embed(build_config({
            "table": "bench", "db": f"{root}/db", "paths": [str(source)], "model": "fake:384",
            "batch_size": batch_size, "index_threshold": 10**12}))
        out.write_text(json.dumps(summary.to_dict()))
        ray.shutdown()


def measure(rows: int, batch_size: int) -> dict:
    """Run one size in a child process and sample its memory."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "summary.json"
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, __file__, "--child", str(rows),
                                  "--batch-size", str(batch_size), "--summary", str(out)],
                                 stdout=subprocess.DEVNULL)
        with MemorySampler(child.pid) as memory:
            code = child.wait()
        if code != 0:
            raise RuntimeError(f"pipeline run of {rows} rows failed (exit {code})")
        summary = json.loads(out.read_text())
    return {"rows": rows, "seconds": summary["seconds"], "rows_per_s": summary["rows_per_s"],
            "embedded": summary["embedded"], "wall_s": round(time.perf_counter() - start, 1),
            "peak_rss_gib": round(memory.peak_rss / 2**30, 2),
            "peak_pss_gib": round(memory.peak_pss / 2**30, 2)}


def markdown(result: dict) -> str:
    """The BENCHMARKS.md section."""
    runs = result["runs"]
    lines = ["## Pipeline overhead: a trivial encoder through Ray Data -> LanceDB", "",
             f"Machine: {result['machine']}; {result['note']}. "
             f"Command: `python bench/pipeline.py --rows "
             f"{' '.join(str(r['rows']) for r in runs)}` (part of `make bench`). Encoder "
             f"`fake:384` (hashing, microseconds per row), batch size {result['batch_size']}, "
             "parquet input of short texts; each size in a fresh process with its own local Ray. "
             "Memory is sampled every 0.25 s over the driver and every process under it (GCS, "
             "raylet, workers): RSS summed (shared pages count once per process) and PSS (shared "
             "pages split between the processes that map them).", "",
             "| rows | job seconds | rows/s | peak RSS (sum) GiB | peak PSS GiB |",
             "|---:|---:|---:|---:|---:|"]
    for r in runs:
        lines.append(f"| {r['rows']:,} | {r['seconds']:.1f} | {r['rows_per_s']:,.0f} | "
                     f"{r['peak_rss_gib']} | {r['peak_pss_gib']} |")
    if len(runs) >= 2:
        growth = runs[-1]["peak_pss_gib"] / max(runs[0]["peak_pss_gib"], 1e-9)
        verdict = "bounded" if growth <= 1.5 else "NOT bounded"
        lines += ["", f"Peak PSS at {runs[-1]['rows']:,} rows is {growth:.2f}x that at "
                      f"{runs[0]['rows']:,} ({verdict}: the target is <= 1.5x)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure every size, write docs/bench/pipeline.json, print the markdown section."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--out", default=str(BENCH_DIR / "pipeline.json"))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--summary", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.batch_size, Path(args.summary))
        return
    result = {"machine": machine_name(), **load_note(), "batch_size": args.batch_size,
              "runs": [measure(rows, args.batch_size) for rows in args.rows]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(markdown(result))


if __name__ == "__main__":
    main()
