"""Evaluation commands: `eval sts` and `eval retrieval`, run through the embed job and query actor."""

from __future__ import annotations

import argparse
import json

from actors.config import BACKENDS, DEFAULT_MODEL, QUANTIZE_CHOICES
from storage.errors import ConfigError

# Published MTEB scores of all-MiniLM-L6-v2 (STSBenchmark test, SciFact test).
PUBLISHED = {"sts": ("spearman", 82.03), "retrieval": ("ndcg@10", 64.51)}


def register(sub, default_db: str) -> None:
    """Add `eval sts` and `eval retrieval` to the CLI."""
    evaluate = sub.add_parser("eval", help="score a model through the pipeline on STS or retrieval")
    tasks = evaluate.add_subparsers(dest="task", required=True)
    sts = tasks.add_parser("sts", help="STS Benchmark: Spearman x100 of cosine vs gold")
    sts.add_argument("--data", help="tab-separated STS file (default: the shared sts-test.csv)")
    _common(sts)
    sts.set_defaults(func=cmd_sts)
    retrieval = tasks.add_parser("retrieval", help="BEIR retrieval: nDCG@10 and recall@100")
    retrieval.add_argument("--data", help="BEIR folder with corpus.jsonl, queries.jsonl, qrels/ "
                           "(default: the shared scifact)")
    retrieval.add_argument("--rerank", action="store_true",
                           help="two-stage search: truncated candidates reranked on full vectors")
    retrieval.add_argument("--both", action="store_true",
                           help="score every truncated dim with and without rerank")
    retrieval.add_argument("--bm25", action="store_true",
                           help="also score BM25 alone (the full-text index on text)")
    retrieval.add_argument("--hybrid", action="store_true",
                           help="also score hybrid search: BM25 + vector fused by reciprocal rank")
    retrieval.add_argument("--chunk", action="store_true",
                           help="embed documents as chunks; a document scores by its best chunk")
    retrieval.add_argument("--chunk-tokens", type=int, help="model tokens per chunk (with --chunk)")
    retrieval.add_argument("--chunk-overlap", type=int, help="tokens neighbouring chunks share")
    retrieval.add_argument("--chunk-title", action="store_true",
                           help="with --chunk: the document's title heads every chunk "
                                "(--chunk-header title; the title is not in the chunked text)")
    retrieval.add_argument("--max-docs", type=int, help="only the first N documents (and the "
                           "queries judged against them)")
    _common(retrieval)
    retrieval.set_defaults(func=cmd_retrieval)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--truncate-dim", type=int, help="keep the first D dims (Matryoshka)")
    parser.add_argument("--dims", help="several dims from one embed run, e.g. 384,256,128,64")
    parser.add_argument("--backend", choices=BACKENDS, default="torch")
    parser.add_argument("--quantize", choices=QUANTIZE_CHOICES, default="none")
    parser.add_argument("--batch-size", type=int, help="rows per batch sent to an actor")
    parser.add_argument("--max-batch-tokens", type=int, help="padded tokens per model call")
    parser.add_argument("--actors", help="N, or MIN,MAX")
    parser.add_argument("--address", dest="ray_address", help="Ray cluster address")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def settings_of(args) -> dict:
    """Embed settings from the flags that were given."""
    names = ("model", "backend", "quantize", "batch_size", "max_batch_tokens", "actors", "ray_address")
    settings = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    if getattr(args, "chunk_title", False) and not args.chunk:
        raise ConfigError("--chunk-title needs --chunk")
    if getattr(args, "chunk", False):  # retrieval only: --chunk and its sizes
        sizes = {"chunk_tokens": args.chunk_tokens, "chunk_overlap": args.chunk_overlap}
        settings.update(chunk=True, **{k: v for k, v in sizes.items() if v is not None})
        if args.chunk_title:
            settings["chunk_header"] = "title"
    return settings


def dims_of(args) -> list[int | None]:
    """The dims to score: --dims, else --truncate-dim, else the model's own."""
    if args.dims:
        return [int(d) for d in args.dims.split(",") if d.strip()]
    return [args.truncate_dim]


def cmd_sts(args) -> int:
    """Embed both sentence columns through the job and report Spearman x100."""
    from jobs.eval.data import default_path, read_sts
    from jobs.eval.run import evaluate_sts

    path = args.data or default_path("stsbenchmark", "sts-test.csv")
    results = evaluate_sts(read_sts(path), settings_of(args), dims_of(args))
    report(results, args, str(path))
    return 0


def cmd_retrieval(args) -> int:
    """Embed the corpus through the job, rank every judged query with the query actor."""
    from jobs.eval.data import default_path, read_retrieval
    from jobs.eval.run import evaluate_retrieval

    path = args.data or default_path("scifact")
    rerank = [False, True] if args.both else [args.rerank]
    modes = ["dense", *(["bm25"] if args.bm25 else []), *(["hybrid"] if args.hybrid else [])]
    results = evaluate_retrieval(read_retrieval(path, max_docs=args.max_docs), settings_of(args),
                                 dims_of(args), rerank, modes=modes)
    report(results, args, str(path))
    return 0


def report(results: list[dict], args, data: str) -> None:
    """Results as JSON, or one line each with the gap to the published score."""
    for r in results:
        r.update(data=data, model=args.model, backend=args.backend, quantize=args.quantize)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
        return
    for r in results:
        metric, published = PUBLISHED[r["task"]]
        value = r[metric] * (100 if metric == "ndcg@10" else 1)
        extra = (f", recall@100 {100 * r['recall@100']:.2f}, {r['queries']} queries"
                 if r["task"] == "retrieval" else f", Pearson {r['pearson']:.2f}, {r['pairs']} pairs")
        mode = r.get("mode", "dense")
        gap = (f" (published {published:.2f}, {value - published:+.2f})"
               if args.model == DEFAULT_MODEL and r.get("queries", 300) == 300 and mode == "dense"
               else "")
        if r.get("embed", {}).get("chunks") is not None:
            extra += f", {r['embed']['chunks']:,} chunks"
        print(f"{r['task']} {_label(r)} "
              f"[{args.backend}/{args.quantize}]: {metric} {value:.2f}{gap}{extra} "
              f"({r['seconds']:.0f}s)")


def _label(result: dict) -> str:
    """'dim 384', 'dim 64 rerank', 'dim 384 hybrid' or 'bm25' (BM25 has no dim)."""
    mode = result.get("mode", "dense")
    if mode == "bm25":
        return "bm25"
    chunked = " chunked" if result.get("embed", {}).get("chunks") is not None else ""
    return (f"dim {result['dim']}{chunked}{' rerank' if result['rerank'] else ''}"
            f"{' hybrid' if mode == 'hybrid' else ''}")
