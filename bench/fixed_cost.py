"""The fixed cost of a run: small runs one after another in one driver (as a service, a
schedule or a notebook makes them), beside a bare Ray Data pipeline of the same shape.

One child process (its own local Ray): the 300-row sample corpus with the hashing encoder
('fake:64'), so nearly all of each run is start-up: the planning and embedding passes, worker
and actor processes, the commit. The baseline, in the same driver right after: read the same
file, map its batches, embed on a one-actor pool, write parquet: what Ray Data alone costs.
CPU seconds are the whole machine's.

    python bench/fixed_cost.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine import BENCH_DIR, REPO, load_note, machine_name  # noqa: E402

SAMPLE = REPO / "examples" / "sample_corpus.jsonl"


def machine_cpu_seconds() -> float:
    """CPU seconds every process of this machine has spent so far (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    busy = sum(fields) - fields[3] - fields[4]  # less idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def timed(call) -> dict:
    """Wall and machine CPU seconds of one call."""
    cpu, start = machine_cpu_seconds(), time.perf_counter()
    call()
    return {"seconds": round(time.perf_counter() - start, 2),
            "cpu_seconds": round(machine_cpu_seconds() - cpu, 2)}


class HashEmbedder:
    """The baseline's actor: the job's hashing encoder, nothing else."""

    def __init__(self):
        from actors.encoders.fake import HashingEncoder

        self.encoder = HashingEncoder(64)

    def __call__(self, batch):
        vectors, _ = self.encoder.embed_with_lengths(list(batch["text"]))
        return {"id": batch["id"], "vector": list(vectors)}


def bare_pipeline(out: str) -> None:
    """Ray Data alone, the job's shape: read, map, a one-actor pool, write."""
    import ray

    (ray.data.read_json(str(SAMPLE))
     .map_batches(lambda b: b, batch_format="pyarrow")
     .map_batches(HashEmbedder, batch_size=64, compute=ray.data.ActorPoolStrategy(size=1))
     .write_parquet(out))


def run_child(runs: int, out: Path) -> None:
    """In the child: start Ray as the job does, embed the sample `runs` times, then the baseline."""
    import ray

    from jobs.config import build_config
    from jobs.embed.run import run_embed
    from jobs.ray_connect import connect_ray

    connect_ray(include_dashboard=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    with tempfile.TemporaryDirectory(prefix="embedfleet-bench-") as root:
        job = [timed(lambda i=i: run_embed(build_config({
            "table": "sample", "db": f"{root}/db{i}", "paths": [str(SAMPLE)],
            "model": "fake:64"}))) for i in range(runs)]
        bare = [timed(lambda i=i: bare_pipeline(f"{root}/bare{i}")) for i in range(runs)]
    out.write_text(json.dumps({"job": job, "ray_data": bare}))


def later(figures: list[dict], key: str = "seconds") -> float:
    """Median over the runs after the first (the first pays the cluster's warm-up)."""
    return statistics.median(f[key] for f in figures[1:] or figures)


def section(result: dict) -> str:
    """The markdown section for docs/BENCHMARKS.md."""
    lines = ["## Fixed cost of a run", "",
             f"`python bench/fixed_cost.py --runs {result['runs']}` on {result['machine']} "
             f"({result['note']}). The 300-row sample corpus with the hashing encoder, "
             f"{result['runs']} runs one after another in one driver with its own local Ray; "
             "then, in the same driver, a bare Ray Data pipeline of the same shape (read, map, "
             "a one-actor pool, parquet write), whose first run comes after the job's. CPU is "
             "the whole machine's.", "",
             "| | first | later (median) | later, CPU s |", "|---|---|---|---|"]
    for label, key in (("embed job (plan, embed, commit)", "job"),
                       ("bare Ray Data pipeline", "ray_data")):
        figures = result[key]
        lines.append(f"| {label} | {figures[0]['seconds']:.2f} s | {later(figures):.2f} s | "
                     f"{later(figures, 'cpu_seconds'):.2f} |")
    lines += ["", f"A later run costs {result['job_over_ray_data']:.1f}x the bare pipeline: "
              "the planning pass, the staging area and the commit are the difference."]
    return "\n".join(lines)


def main() -> None:
    """Measure in a child process, write the JSON and print the section."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default=str(BENCH_DIR / "fixed_cost.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.runs, Path(args.out))
        return
    result = {"machine": machine_name(), **load_note(), "runs": args.runs}
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp) / "runs.json"
        subprocess.run([sys.executable, __file__, "--child", "--runs", str(args.runs),
                        "--out", str(figures)], check=True, env=env, cwd=REPO)
        result.update(json.loads(figures.read_text()))
    result["job_over_ray_data"] = round(later(result["job"]) / later(result["ray_data"]), 2)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(section(result))


if __name__ == "__main__":
    main()
