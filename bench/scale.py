"""Cluster scale: 1M, 4M and 10M rows through the job with a trivial encoder; the driver's memory.

The hashing encoder ('fake:8') costs microseconds per row, so the figures are the plan (the
hash-partitioned duplicate check and diff), Ray Data's passes and the Lance writes. Each run is
`python -m jobs.embed` in its own process joined to one local Ray cluster, and its peak RSS
(that process alone, not Ray's workers) comes from the kernel when it exits, read by a small
launcher (bench/peak_rss.py) so that this script's own memory is not counted in it. Then an
incremental run over the largest table with 1% of the texts changed.

    python bench/scale.py --sizes 1000000 4000000 10000000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine import BENCH_DIR, REPO, load_note, machine_name  # noqa: E402

FILE_ROWS = 1_000_000
CHANGED_EVERY = 100  # 1% of the texts change before the incremental run


def write_corpus(folder: Path, rows: int, changed: bool = False) -> list[str]:
    """Parquet files of FILE_ROWS short distinct texts each; `changed` edits every 100th text."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from pipeline import WORDS

    folder.mkdir(parents=True, exist_ok=True)
    words = pa.array(WORDS)
    paths = []
    for number, start in enumerate(range(0, rows, FILE_ROWS)):
        index = np.arange(start, min(rows, start + FILE_ROWS))
        picks = np.random.default_rng(number).integers(0, len(WORDS), (len(index), 6))
        numbers = pa.array(index.astype(str))
        parts = [pa.array(np.full(len(index), "row")), numbers,
                 *(pc.take(words, pa.array(picks[:, j])) for j in range(6))]
        text = pc.binary_join_element_wise(*parts, " ")
        if changed:
            edit = pa.array(index % CHANGED_EVERY == 0)
            text = pc.if_else(edit, pc.binary_join_element_wise(text, "changed", " "), text)
        path = folder / f"part-{number:03d}.parquet"
        pq.write_table(pa.table({"id": pc.binary_join_element_wise("r", numbers, ""),
                                 "text": text}), path)
        paths.append(str(path))
    return paths


def run_job(paths: list[str], db: str, address: str) -> dict:
    """One run as its own driver process: its summary, wall time and peak RSS."""
    command = [sys.executable, "-m", "jobs.embed", *paths, "--table", "bench", "--db", db,
               "--model", "fake:8", "--address", address, "--index-threshold", str(10**12),
               "--json"]
    peak_file = Path(db).with_suffix(".peak")
    launcher = [sys.executable, str(Path(__file__).with_name("peak_rss.py")), str(peak_file)]
    start = time.perf_counter()
    child = subprocess.run([*launcher, *command], cwd=REPO, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    out, status = child.stdout, child.returncode
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if status != 0 or not lines:
        raise RuntimeError(f"run over {paths[0]}... failed (exit {status}): {out[-2000:]}")
    summary = json.loads(lines[-1])
    return {"read": summary["read"], "embedded": summary["embedded"],
            "skipped": summary["skipped_unchanged"], "seconds": summary["seconds"],
            "wall_s": round(wall, 1), "rows_per_s": round(summary["read"] / summary["seconds"]),
            "driver_peak_mib": round(int(peak_file.read_text()) / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 4_000_000, 10_000_000])
    parser.add_argument("--out", default=str(BENCH_DIR / "scale.json"))
    args = parser.parse_args()

    import ray

    from jobs.ray_connect import connect_ray

    note = load_note()
    connect_ray(include_dashboard=False)
    address = ray.get_runtime_context().gcs_address
    results, incremental = [], None
    with tempfile.TemporaryDirectory(prefix="embedfleet-scale-") as root:
        for rows in args.sizes:
            paths = write_corpus(Path(root) / f"c{rows}", rows)
            db = f"{root}/db{rows}"
            results.append({"mode": "create", **run_job(paths, db, address)})
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
            if rows != max(args.sizes):  # the largest table stays for the incremental run
                shutil.rmtree(db)
                shutil.rmtree(Path(root) / f"c{rows}")
        largest = max(args.sizes)
        changed = write_corpus(Path(root) / f"v2-{largest}", largest, changed=True)
        incremental = {"mode": "incremental", **run_job(changed, f"{root}/db{largest}", address)}
        print(json.dumps(incremental), file=sys.stderr, flush=True)
    ray.shutdown()
    report = {"machine": machine_name(), "load": note, "runs": results, "incremental": incremental,
              "expected_changed": len(range(0, largest, CHANGED_EVERY))}
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(section(report))


def section(report: dict) -> str:
    """The markdown section of docs/BENCHMARKS.md."""
    runs, inc = report["runs"], report["incremental"]
    base = runs[0]
    lines = ["## Cluster scale: the plan and the driver's memory", "",
             f"Machine: {report['machine']}; {report['load']['note']}. Command: "
             "`python bench/scale.py`. Encoder `fake:8` (hashing, microseconds per row), so these "
             "are the plan, Ray Data's two passes and the Lance writes, on one local Ray cluster; "
             "each run is `python -m jobs.embed` in its own process, and its peak RSS is that "
             "process alone (the kernel's figure at exit, read by a small launcher, bench/peak_rss.py, "
             "so that the benchmark's own memory is not counted in it). No ANN index (threshold "
             "above the rows).",
             "The job's seconds are what its summary reports; the process's include its start and Ray "
             "connection.",
             "", "| run | rows | job s | process s | rows/s | driver peak MiB | time vs first | "
             "peak vs first |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in [*runs, inc]:
        lines.append(f"| {r['mode']} | {r['read']:,} | {r['seconds']:.1f} | {r['wall_s']:.1f} | "
                     f"{r['rows_per_s']:,} | "
                     f"{r['driver_peak_mib']:,} | {r['seconds'] / base['seconds']:.2f}x | "
                     f"{r['driver_peak_mib'] / base['driver_peak_mib']:.2f}x |")
    lines += ["", f"The incremental run changed every {CHANGED_EVERY}th text of the "
              f"{inc['read']:,} rows: it embedded {inc['embedded']:,} (expected "
              f"{report['expected_changed']:,}) and skipped {inc['skipped']:,} as unchanged."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
