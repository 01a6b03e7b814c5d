"""Query commands: `query`, `similar` and `index`."""

from __future__ import annotations

import argparse
import json
import shutil

from actors.query.defaults import ANN_REFINE, MAX_K, RERANK_REFINE
from storage.defaults import DEFAULT_INDEX_KIND, INDEX_KINDS


def register(sub, default_db: str) -> None:
    """Add the query commands to the CLI."""
    query = sub.add_parser("query", help="cosine top-k for a text (or a vector arithmetic)")
    query.add_argument("table")
    query.add_argument("text", help='query text, or with --arithmetic "king - man + woman"')
    _common(query, default_db)
    query.add_argument("--rerank", action="store_true",
                       help="two-stage: candidates on the truncated vectors, rerank on vector_full")
    query.add_argument("--arithmetic", action="store_true", help="read TEXT as a + / - expression")
    query.add_argument("--exact", action="store_true",
                       help="exact search even if an index exists (in memory when the table fits)")
    mode = query.add_mutually_exclusive_group()
    mode.add_argument("--hybrid", action="store_true",
                      help="BM25 over text + vector search, fused by reciprocal rank")
    mode.add_argument("--bm25", action="store_true", help="BM25 over text alone (keywords)")
    query.set_defaults(func=cmd_query)
    similar = sub.add_parser("similar", help="rows closest to a stored row (on a chunked table, "
                                                 "documents closest to a document), itself excluded")
    similar.add_argument("table")
    similar.add_argument("id")
    _common(similar, default_db)
    similar.set_defaults(func=cmd_similar)
    index = sub.add_parser("index", help="build the ANN index of a table's vectors (or --fts)")
    index.add_argument("table")
    index.add_argument("--fts", action="store_true",
                       help="build the full-text (BM25) index on text instead; embed runs then "
                            "keep it fresh")
    index.add_argument("--type", dest="kind", choices=INDEX_KINDS, default=DEFAULT_INDEX_KIND)
    index.add_argument("--num-partitions", type=int, help="IVF partitions (default ~sqrt(rows))")
    index.add_argument("--num-sub-vectors", type=int, help="PQ sub-vectors (default dim/8)")
    index.add_argument("--db", default=default_db)
    index.add_argument("--json", action="store_true")
    index.set_defaults(func=cmd_index)


def _common(parser: argparse.ArgumentParser, default_db: str) -> None:
    parser.add_argument("-k", type=int, default=10, help=f"results, 1..{MAX_K} (default 10)")
    parser.add_argument("--where", action="append", default=[],
                        help="filter like 'year>=2020' or \"topic = 'space'\" (repeat to AND)")
    parser.add_argument("--nprobes", type=int,
                        help="IVF partitions to probe on an indexed table (default: 8%% of "
                             "the partitions the default index makes, at least 20)")
    parser.add_argument("--refine", type=int,
                        help="candidates per result re-scored exactly: on the full vectors with "
                             f"--rerank (default {RERANK_REFINE}), by the ANN index otherwise "
                             f"(default {ANN_REFINE})")
    parser.add_argument("--passages", action="store_true",
                        help="on a chunked table, chunk hits (passages) instead of documents "
                             "scored by their best chunk")
    parser.add_argument("--db", default=default_db)
    parser.add_argument("--json", action="store_true")


def _filters(args):
    from actors.query.filters import parse_where

    return [parse_where(w) for w in args.where]


def cmd_query(args) -> int:
    """Print the top-k rows for a query text."""
    from actors.query.actor import QueryActor

    actor = QueryActor(args.db, args.table)
    grouped = not args.passages
    if args.arithmetic:
        hits = actor.arithmetic(args.text, args.k, _filters(args), group_by_document=grouped)
    elif args.bm25:
        hits = actor.bm25_search(args.text, args.k, _filters(args), group_by_document=grouped)
    else:
        hits = actor.search(args.text, args.k, _filters(args), rerank=args.rerank,
                            refine=args.refine, nprobes=args.nprobes, exact=args.exact,
                            hybrid=args.hybrid, group_by_document=grouped)
    print_hits(hits, args.json)
    return 0


def cmd_similar(args) -> int:
    """Print the rows closest to a stored row."""
    from actors.query.actor import QueryActor

    hits = QueryActor(args.db, args.table).similar(args.id, args.k, _filters(args),
                                                   group_by_document=not args.passages)
    print_hits(hits, args.json)
    return 0


def cmd_index(args) -> int:
    """Build the table's ANN index (or its full-text one) and print its parameters."""
    from storage.index import build_index, build_text_index

    if args.fts:
        params = build_text_index(args.db, args.table)
    else:
        overrides = {k: v for k, v in (("num_partitions", args.num_partitions),
                                       ("num_sub_vectors", args.num_sub_vectors)) if v is not None}
        params = build_index(args.db, args.table, args.kind, **overrides)
    print(json.dumps(params) if args.json else
          "built " + ", ".join(f"{k}={v}" for k, v in params.items()))
    return 0


def print_hits(hits, as_json: bool) -> None:
    """Hits as a JSON list, or as a table of rank, score, id and text cut to the terminal.

    A hit from a chunked table shows where its passage lies: `[start:end]` before the text.
    """
    if as_json:
        print(json.dumps([h.to_dict() for h in hits], default=str))
        return
    width = shutil.get_terminal_size((100, 20)).columns
    id_width = min(max([len(h.id) for h in hits] + [2]), 24)
    print(f"{'#':>3}  {'score':>6}  {'id':<{id_width}}  text")
    for rank, hit in enumerate(hits, 1):
        room = max(width - id_width - 18, 20)
        text = " ".join(hit.text.split())
        if all(c in hit.columns for c in ("chunk", "start", "end")):  # a chunked table's hit
            text = f"[{hit.columns['start']}:{hit.columns['end']}] {text}"
        text = text if len(text) <= room else text[: room - 1] + "…"
        print(f"{rank:>3}  {hit.score:6.4f}  {hit.id[:id_width]:<{id_width}}  {text}")
