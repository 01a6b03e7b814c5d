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


def run_backend(backend: str, dims: list[int], sts_only: bool, first: bool = False) -> dict:
    """STS-B and SciFact scores for one backend at every dim.

    The first backend's SciFact run also ranks by BM25 and hybrid, and two more runs embed the
    corpus chunked (default chunking, documents scored by their best chunk) beside it: the
    documents as they are, then their bodies with the title heading every chunk.
    """
    from jobs.eval.data import default_path, read_retrieval, read_sts
    from jobs.eval.run import evaluate_retrieval, evaluate_sts

    name, quantize = backend.split("/")
    settings = {"backend": name, "quantize": quantize}
    start = time.perf_counter()
    sts = evaluate_sts(read_sts(default_path("stsbenchmark", "sts-test.csv")), settings, dims)
    modes = ["dense", "bm25", "hybrid"] if first else ["dense"]
    scifact = None if sts_only else read_retrieval(default_path("scifact"))
    retrieval = [] if sts_only else evaluate_retrieval(scifact, settings, dims, [False, True],
                                                       modes=modes)
    chunked = []
    if first and not sts_only:
        chunked += evaluate_retrieval(scifact, {**settings, "chunk": True}, [None])
        chunked += [{**r, "chunk_header": "title"} for r in evaluate_retrieval(
            scifact, {**settings, "chunk": True, "chunk_header": "title"}, [None])]
    return {"backend": backend, "sts": sts, "retrieval": retrieval, "chunked": chunked,
            "seconds": round(time.perf_counter() - start)}


def markdown(result: dict) -> str:
    """docs/EVAL.md."""
    lines = ["# Evaluation: published scores reproduced through the pipeline", "",
             f"Written by `make eval` (`python bench/eval_table.py`) on {result['machine']}, "
             f"{result['date']}. Model all-MiniLM-L6-v2 (the packaged weights); data read at run "
             "time from ../shared/eval (protocol in its REFERENCE.md)."
             + (f" Rows of {', '.join(result['kept']['backends'])} are kept from an earlier run "
                f"({result['kept']['from']}; `--update` reran only the others)."
                if result.get("kept") else ""), "",
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
    if base is not None:
        lines += modes_section(base) + chunked_section(base)
    return "\n".join(lines) + "\n"


def modes_section(run: dict) -> list[str]:
    """Dense, BM25 and hybrid rows of the first backend at its full dim."""
    full = max((r["dim"] for r in run["retrieval"]), default=None)
    rows = [r for r in run["retrieval"] if not r["rerank"]
            and (r.get("mode") == "bm25" or r["dim"] == full)]
    if not any(r.get("mode") in ("bm25", "hybrid") for r in rows):
        return []
    names = {"dense": "dense (all-MiniLM-L6-v2)", "bm25": "BM25 alone",
             "hybrid": "hybrid (BM25 + dense, RRF)"}
    out = ["", "## Dense, BM25 and hybrid retrieval on SciFact", "",
           f"{run['backend']}, {full} dims, the same embed run as the table above: LanceDB's "
           "full-text index on `text` (BM25; storage/index.py `build_text_index`), then each query "
           "through `QueryActor.search_batch` (dense), `bm25_search_batch` (BM25 alone) and "
           "`search_batch(hybrid=True)` (top 100 of each side fused by reciprocal rank, "
           "1 / (rank + 60)). Rerun: `embedfleet eval retrieval --bm25 --hybrid`.", "",
           "| mode | SciFact nDCG@10 | recall@100 |", "|---|---:|---:|"]
    for row in rows:
        out.append(f"| {names[row.get('mode', 'dense')]} | {_pct(row, 'ndcg@10')} | "
                   f"{_pct(row, 'recall@100')} |")
    return out + ["", "Published for reference: BM25 66.5 in the BEIR paper (Elasticsearch BM25, "
                  "another tokenizer)."]


def chunked_section(run: dict) -> list[str]:
    """Truncated vs chunked SciFact, same model and backend, same `make eval` run."""
    if not run.get("chunked"):
        return []
    full = max(r["dim"] for r in run["retrieval"])
    truncated = next(r for r in run["retrieval"] if r["dim"] == full and not r["rerank"]
                     and r.get("mode", "dense") == "dense")
    report = truncated["embed"].get("truncation") or {}
    over = (f" {report['documents_over_window']:,} of {report['documents']:,} documents are longer "
            f"than the model's 256-token window; truncation drops "
            f"{report['tokens_dropped']:,} of the corpus' {report['tokens_in_documents']:,} tokens "
            f"({100 * report['share_of_tokens_dropped']:.1f}%), as the run's truncation report "
            "says." if report else "")
    return ["", "## Long documents: truncated vs chunked", "",
            f"{run['backend']}, {full} dims.{over} `embedfleet eval retrieval --chunk` embeds every "
            "document as token-bounded chunks instead (default chunking: as many tokens as the "
            "window holds after the special tokens, a fifth of them shared with the next chunk, "
            "cut at paragraph and sentence ends by semantic-text-splitter), and the query actor "
            "returns each document once, scored by its best chunk.", "",
            "| documents embedded | rows | SciFact nDCG@10 | recall@100 |", "|---|---:|---:|---:|",
            f"| truncated at the window | {truncated['embed']['embedded']:,} | "
            f"{_pct(truncated, 'ndcg@10')} | {_pct(truncated, 'recall@100')} |",
            *[chunked_row(r) for r in run["chunked"]],
            *[f"\n{r['note']}" for r in run["chunked"] if r.get("note")]] + reference_rows()


def chunked_row(result: dict) -> str:
    """One chunked run's row: the documents as they are, or title-headed chunks of their bodies."""
    what = ("chunked, the title heading every chunk of the body (`--chunk --chunk-title`)"
            if result.get("chunk_header") == "title" else "chunked (`--chunk`)")
    return (f"| {what}, best chunk per document | {result['embed']['chunks']:,} | "
            f"{_pct(result, 'ndcg@10')} | {_pct(result, 'recall@100')} |")


def reference_rows() -> list[str]:
    """The same model outside the pipeline on fixed token windows (bench/chunking_reference.py)."""
    path = REPO / "docs" / "bench" / "chunking_reference.json"
    if not path.exists():
        return []
    ref = json.loads(path.read_text())
    out = ["", f"Reference outside the pipeline (`python bench/chunking_reference.py`, {ref['machine']}, "
           f"{ref['date']}): plain sentence-transformers on windows of 254 tokens every 200 tokens "
           f"({ref['windows']:,} windows, their token ids fed to the model as they are), scored "
           "the same way"
           + (f"; the last row windows the body alone and heads each window with the title "
              f"([CLS] title [SEP] window [SEP], the title cut to 48 tokens, the window that much "
              f"shorter; {ref['titled windows']:,} windows)" if "titled windows" in ref else "")
           + ":", "", "| reference | SciFact nDCG@10 | recall@100 |", "|---|---:|---:|"]
    for name in ("first window (truncation)", "best window (MaxP)", "mean of windows",
                 "best title-headed window (MaxP)"):
        if name in ref:  # the title-headed windows: the body's, each headed by its title
            out.append(f"| {name} | {_pct(ref[name], 'ndcg@10')} | {_pct(ref[name], 'recall@100')} |")
    return out


def _find(rows: list[dict], dim: int, rerank: bool) -> dict | None:
    return next((r for r in rows if r["dim"] == dim and r["rerank"] == rerank
                 and r.get("mode", "dense") == "dense"), None)


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
              "runs": [run_backend(b, dims, args.sts_only, first=i == 0) for i, b in
                       enumerate(b.strip() for b in args.backends.split(",") if b.strip())]}
    if args.update and (out / "eval.json").exists():
        # Keep the other backends' rows from the last run; this run's backends replace theirs.
        fresh = {r["backend"]: r for r in result["runs"]}
        previous = json.loads((out / "eval.json").read_text())
        kept = [r for r in previous["runs"] if r["backend"] not in fresh]
        if kept:
            result["kept"] = {"backends": [r["backend"] for r in kept],
                              "from": previous.get("kept", {}).get("from")
                              or f"{previous['machine']}, {previous['date']}"}
        merged = {r["backend"]: r for r in kept} | fresh
        order = list(BACKENDS) + [b for b in merged if b not in BACKENDS]
        result["runs"] = [merged[b] for b in order if b in merged]
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(result, indent=2))
    (out / "EVAL.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
