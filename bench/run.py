"""`make bench`: run every benchmark, keep each one's markdown section, write docs/BENCHMARKS.md.

Each benchmark is a script that prints its section (a '## ' heading and what follows) and
writes its JSON under docs/bench/. Sections are kept as docs/bench/<name>.md, so a run of some
benchmarks (`--only throughput`) rebuilds the page with the others' last figures.

    python bench/run.py                       # all of them, then docs/BENCHMARKS.md
    python bench/run.py --only pipeline       # one, the page rebuilt
    python bench/run.py --quick               # small sizes, to check that everything runs
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

from machine import BENCH_DIR, REPO, load_note, machine_name  # noqa: E402

# name, script, full arguments, quick arguments; in the page's order.
BENCHMARKS = [
    ("throughput", "bench/throughput.py", ["--corpora", "docs,sentences"],
     ["--docs", "100", "--sentences", "300", "--corpora", "docs,sentences"]),
    ("throughput_chunked", "bench/throughput.py",
     ["--corpora", "chunked", "--backends", "torch/none", "--out",
      str(BENCH_DIR / "throughput_chunked.json")],
     ["--docs", "100", "--corpora", "chunked", "--backends", "torch/none"]),
    ("pipeline", "bench/pipeline.py", [], ["--rows", "10000", "20000"]),
    ("fixed_cost", "bench/fixed_cost.py", [], ["--runs", "2"]),
    ("scale", "bench/scale.py", [], ["--sizes", "20000", "50000"]),
    ("query_latency", "bench/query_latency.py", [], ["--sizes", "20000", "--queries", "50"]),
    ("umap", "bench/umap.py", [], ["--sizes", "500", "--rows", "2000"]),
    ("rerank_recall", "bench/rerank_recall.py", [], ["--max-docs", "300", "--refine", "4"]),
    ("http_load", "bench/http_load.py", [], ["--seconds", "5"]),
]
PLACEHOLDERS = {
    "gpu": ("## GPU\n\nNot measured on this machine (no GPU). On a GPU machine, "
            "`bash bench/gpu.sh` measures sentences/s in fp16 for several batch sizes beside plain "
            "`SentenceTransformer.encode` fp16, and GPU utilization; it writes "
            "docs/bench/gpu.md, which this page then includes.\n"),
}


def run_one(name: str, script: str, args: list[str], quick: bool) -> float | None:
    """Run a benchmark script; keep its markdown section. Returns its wall time in seconds."""
    out = BENCH_DIR / f"{name}.md"
    extra = ["--out", str(Path(tempfile.gettempdir()) / f"embedfleet-{name}.json")] if quick else []
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(REPO / script), *args, *extra], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        # One broken benchmark must not cost the others' figures: report it and go on.
        print(f"{script} failed (exit {result.returncode}); see its output above", flush=True)
        return None
    section = result.stdout[result.stdout.find("## "):] if "## " in result.stdout else result.stdout
    if not quick:
        out.write_text(section.rstrip() + "\n")
    else:
        print(section)
    return seconds


def summary_lines() -> list[str]:
    """The headline: job / plain encode per backend on each corpus, from throughput.json."""
    paths = [BENCH_DIR / "throughput.json", BENCH_DIR / "throughput_chunked.json"]
    rows = [row for p in paths if p.exists() for row in json.loads(p.read_text())["corpora"]]
    if not rows:
        return []
    lines = ["## Summary", "", "Speed of the whole embed job relative to plain "
             "`SentenceTransformer.encode` (torch fp32, batch 32) of the same texts in one process "
             "(above 1.00x the job is faster; sections Throughput have the figures; a chunked "
             "run's plain side encodes the same chunks):", ""]
    for row in rows:
        plain_s = sum(row["plain_s"]) / len(row["plain_s"])
        ratios = ", ".join(f"{backend} {plain_s / job['seconds']:.2f}x"
                           for backend, job in row["jobs"].items())
        alone = (f" The embedder's encoder alone (no Ray, model loaded): "
                 f"{plain_s / row['encoder_s']:.2f}x." if "encoder_s" in row else "")
        lines.append(f"- {row['corpus']}: {ratios}.{alone}")
    lines += ["", "The job's time includes what plain encode's does not: starting the actor's "
              "process, importing sentence-transformers there (about 4 s on this machine, 1.4 s "
              "of it scikit-learn) and loading the model, the planning pass over the corpus and "
              "the commit. On the STS sentences (7 s of plain encode) those fixed seconds are "
              "most of the job; on 2,000 documents they are about a tenth of it."]
    lines += ["", "Quality of each backend (STS-B, SciFact nDCG@10) is in docs/EVAL.md.", ""]
    return lines


def write_page(timings: dict[str, float]) -> Path:
    """Assemble docs/BENCHMARKS.md from the kept sections."""
    note = load_note()
    parts = ["# Benchmarks", "",
             f"Written by `make bench` (`python bench/run.py`) on {machine_name()}, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Every figure below comes "
             "with the command that produced it and how busy the machine was as it started: figures "
             "measured on a busy machine (other work running) are slower than this machine can "
             "do, by up to 5-10x; peers in one table were measured side by side in one run, so "
             "their ratios hold better than their absolute values.", ""]
    if timings:
        parts += ["Times of this run: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
                  + f"; at the end {note['note']}.", ""]
    parts += summary_lines()
    for name in [b[0] for b in BENCHMARKS] + ["gpu"]:
        path = BENCH_DIR / f"{name}.md"
        parts.append(path.read_text().rstrip() if path.exists() else PLACEHOLDERS.get(
            name, f"## {name}\n\nNot measured yet.").rstrip())
        parts.append("")
    page = REPO / "docs" / "BENCHMARKS.md"
    page.write_text("\n".join(parts))
    return page


def main() -> None:
    """Run the chosen benchmarks and rebuild the page."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="+", choices=[b[0] for b in BENCHMARKS])
    parser.add_argument("--quick", action="store_true", help="small sizes; the page is not written")
    parser.add_argument("--page", action="store_true", help="only rebuild the page from kept sections")
    args = parser.parse_args()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    failed: list[str] = []
    for name, script, full, quick in BENCHMARKS:
        if args.page or (args.only and name not in args.only):
            continue
        if not (REPO / script).exists():
            print(f"skipping {name}: {script} is not in this tree")
            continue
        print(f"== {name}: {script}", flush=True)
        seconds = run_one(name, script, quick if args.quick else full, args.quick)
        if seconds is None:
            failed.append(name)
        else:
            timings[name] = seconds
    if not args.quick:
        print(f"wrote {write_page(timings)}")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
