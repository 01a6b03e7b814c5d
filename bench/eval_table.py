"""`make eval`: STS-B and SciFact through the pipeline for each backend; writes docs/EVAL.md.

Per backend: one embed job of the STS-B test sentences and one of the SciFact corpus, truncated
to the smallest dim with the full vectors kept; the other dims are derived from the full vectors
exactly as the job truncates and normalizes (see jobs/evaluate.py). Every SciFact query goes
through the query actor, with and without the Matryoshka rerank.

    python bench/eval_table.py                                  # all backends below
    python bench/eval_table.py --backends torch/none --dims 384,128
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine import REPO, load_note, machine_name  # noqa: E402

BACKENDS = ("torch/none", "onnx/none", "onnx/int8", "openvino/bf16", "torch/bf16")
PUBLISHED = {"sts": 82.03, "ndcg": 64.51}


def run_backend(backend: str, dims: list[int], sts_only: bool) -> dict:
    """STS-B and SciFact scores for one backend at every dim."""
    from jobs.eval.data import default_path, read_retrieval, read_sts
    from jobs.eval.run import evaluate_retrieval, evaluate_sts

    name, quantize = backend.split("/")
    settings = {"backend": name, "quantize": quantize}
    start = time.perf_counter()
    sts = evaluate_sts(read_sts(default_path("stsbenchmark", "sts-test.csv")), settings, dims)
    retrieval = [] if sts_only else evaluate_retrieval(
        read_retrieval(default_path("scifact")), settings, dims, [False, True])
    return {"backend": backend, "sts": sts, "retrieval": retrieval,
            "seconds": round(time.perf_counter() - start)}


def markdown(result: dict) -> str:
    """docs/EVAL.md."""
    lines = ["# Evaluation: published scores reproduced through the pipeline", "",
             f"Written by `make eval` (`python bench/eval_table.py`) on {result['machine']}, "
             f"{result['date']}. Model all-MiniLM-L6-v2 (the packaged weights); data read at run "
             "time from ../shared/eval (protocol in its REFERENCE.md).", "",
             "- **STS-B** (test, 1,379 pairs): both sentence columns go through the embed job "
             "into a table; vectors are read back by id; Spearman x100 of the pairs' cosines vs "
             f"the gold scores. Published: {PUBLISHED['sts']}.",
             "- **SciFact** (BEIR test, 5,183 docs, 300 judged queries): the corpus "
             "(title + \" \" + text) goes through the embed job; every query through "
             "`QueryActor.search_batch` (top 100); nDCG@10 and recall@100 as trec_eval computes "
             f"them (ties by doc id descending). Published nDCG@10: {PUBLISHED['ndcg']}.",
             "- Per backend, one job run per dataset truncates to the smallest dim and keeps the "
             "full vectors (`--truncate-dim 64 --keep-full`); the other dims' vectors are those "
             "full vectors truncated and re-normalized the way the job does it. Rerank = "
             "candidates on the truncated vectors (top 100 x 4), re-scored on the full ones.",
             "- Any row: `embedfleet eval sts [--truncate-dim D] [--backend B --quantize Q]` and "
             "`embedfleet eval retrieval [--truncate-dim D] [--rerank] [--backend B --quantize Q]`; "
             "the whole grid of one backend: `--dims 384,256,128,64` (plus `--both` for rerank).",
             "", "| backend | dim | STS-B Spearman | SciFact nDCG@10 | nDCG@10 rerank | "
             "recall@100 | recall@100 rerank |", "|---|---:|---:|---:|---:|---:|---:|"]
    for run in result["runs"]:
        for sts in run["sts"]:
            dim = sts["dim"]
            plain = _find(run["retrieval"], dim, False)
            rerank = _find(run["retrieval"], dim, True)
            lines.append(f"| {run['backend']} | {dim} | {sts['spearman']:.2f} | "
                         f"{_pct(plain, 'ndcg@10')} | {_pct(rerank, 'ndcg@10')} | "
                         f"{_pct(plain, 'recall@100')} | {_pct(rerank, 'recall@100')} |")
    lines += ["", "Gaps to the fp32 torch backend at 384 dims (tolerance: STS-B 0.3, SciFact "
              "nDCG@10 0.5):", ""]
    base = result["runs"][0] if result["runs"] else None
    for run in result["runs"][1:]:
        sts_gap = run["sts"][0]["spearman"] - base["sts"][0]["spearman"]
        ndcg = _find(run["retrieval"], run["sts"][0]["dim"], False)
        ndcg_base = _find(base["retrieval"], base["sts"][0]["dim"], False)
        ndcg_gap = (f"{100 * (ndcg['ndcg@10'] - ndcg_base['ndcg@10']):+.2f}"
                    if ndcg and ndcg_base else "-")
        lines.append(f"- {run['backend']}: STS-B {sts_gap:+.2f}, SciFact nDCG@10 {ndcg_gap}")
    lines += ["", "Speed of each backend: docs/BENCHMARKS.md. int8 scales activations per model "
              "call, so its scores move by a few hundredths with the micro-batch size."]
    return "\n".join(lines) + "\n"


def _find(rows: list[dict], dim: int, rerank: bool) -> dict | None:
    return next((r for r in rows if r["dim"] == dim and r["rerank"] == rerank), None)


def _pct(row: dict | None, key: str) -> str:
    return "-" if row is None else f"{100 * row[key]:.2f}"


def main() -> None:
    """Run every backend, write docs/eval.json and docs/EVAL.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--dims", default="384,256,128,64")
    parser.add_argument("--sts-only", action="store_true", help="skip SciFact (minutes per backend)")
    parser.add_argument("--out", default=str(REPO / "docs"))
    parser.add_argument("--update", action="store_true",
                        help="replace only these backends' rows in the existing docs/eval.json")
    args = parser.parse_args()
    dims = [int(d) for d in args.dims.split(",")]
    out = Path(args.out)
    result = {"machine": machine_name(), **load_note(),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "runs": [run_backend(b.strip(), dims, args.sts_only)
                       for b in args.backends.split(",") if b.strip()]}
    if args.update and (out / "eval.json").exists():
        # Keep the other backends' rows from the last run; this run's backends replace theirs.
        fresh = {r["backend"]: r for r in result["runs"]}
        kept = json.loads((out / "eval.json").read_text())["runs"]
        merged = {r["backend"]: r for r in kept} | fresh
        order = list(BACKENDS) + [b for b in merged if b not in BACKENDS]
        result["runs"] = [merged[b] for b in order if b in merged]
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(result, indent=2))
    (out / "EVAL.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
