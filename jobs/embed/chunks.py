"""Chunked runs: documents into one row per chunk, in the prepare tasks (not the model actors).

A chunk row keeps its document's id (`doc_id`), carried columns, content hash and (file, row)
key, so the plan, rejects and incremental runs all stay by document; its own `id` is
`<doc_id>#<chunk>` (unique: the last '#' splits it back, chunk indexes have none).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from actors.config import ModelConfig
from jobs.embed.rows import REJECT, header_values, set_rejects
from storage.chunk_rows import CHUNKS, EMBED_TEXT
from storage.schema import CHUNK, DOC_ID, END, START


def chunk_id(doc_id: str, chunk: int) -> str:
    """The row id of a document's chunk."""
    return f"{doc_id}#{chunk}"


def reject_long_documents(table: pa.Table, pieces: list[list[tuple[int, int, str]] | None],
                          max_chunks: int, chunk_tokens: int) -> pa.Table:
    """Reject documents that would give more than max_chunks chunks, naming the count."""
    over = np.array([p is not None and len(p) > max_chunks for p in pieces], dtype=bool)
    if not over.any():
        return table
    reasons = [f"document gives {len(pieces[i])} chunks of up to {chunk_tokens} tokens, more "
               f"than --max-chunks {max_chunks}" for i in np.flatnonzero(over)]
    return set_rejects(table, over, reasons)


def expand_chunks(table: pa.Table, pieces: list[list[tuple[int, int, str]] | None]) -> pa.Table:
    """One row per chunk of each document still to embed; a rejected document stays one row.

    pieces[i] is document i's (start, end, text) chunks (None where it was not chunked).
    """
    n = table.num_rows
    rejected = pc.is_valid(table.column(REJECT)).to_numpy(zero_copy_only=False)
    counts = np.array([0 if rejected[i] or not pieces[i] else len(pieces[i]) for i in range(n)],
                      dtype=np.int64)
    rows = np.where(counts > 0, counts, 1)  # a rejected document keeps its one row
    take = np.repeat(np.arange(n), rows)
    out = table.take(pa.array(take))
    doc_ids = out.column("id")
    chunk_index = np.concatenate([np.arange(r) for r in rows]) if n else np.zeros(0, np.int64)
    chunked = np.repeat(counts > 0, rows)
    starts = np.zeros(len(take), dtype=np.int64)
    ends = np.zeros(len(take), dtype=np.int64)
    texts = out.column("text").to_pylist()
    position = 0
    for i in range(n):
        if counts[i]:
            for j, (start, end, text) in enumerate(pieces[i]):
                starts[position + j], ends[position + j], texts[position + j] = start, end, text
        position += rows[i]
    ids = [chunk_id(d, c) if k else d
           for d, c, k in zip(doc_ids.to_pylist(), chunk_index.tolist(), chunked.tolist(), strict=True)]
    out = out.set_column(out.schema.get_field_index("id"), "id", pa.array(ids, pa.string()))
    out = out.set_column(out.schema.get_field_index("text"), "text", pa.array(texts, pa.string()))
    mask = pa.array(~chunked)
    columns = {DOC_ID: doc_ids,
               CHUNK: pc.if_else(mask, pa.nulls(len(take), pa.int32()), pa.array(chunk_index, pa.int32())),
               START: pc.if_else(mask, pa.nulls(len(take), pa.int64()), pa.array(starts)),
               END: pc.if_else(mask, pa.nulls(len(take), pa.int64()), pa.array(ends)),
               CHUNKS: pa.array(np.repeat(counts, rows))}
    for name, column in columns.items():
        out = out.append_column(name, column)
    return out


def chunk_documents(table: pa.Table, model: ModelConfig, max_chunks: int
                    ) -> tuple[pa.Table, list[list[tuple[int, int, str]] | None]]:
    """Cut the documents still to embed into chunks, rejecting those that give too many."""
    from actors.encoders.chunker import chunker
    from actors.encoders.tokens import token_counter

    cutter = chunker(model)
    size = cutter.sizes.tokens
    rejected = pc.is_valid(table.column(REJECT)).to_numpy(zero_copy_only=False)
    texts = table.column("text").to_pylist()
    # A text whose tokens could not fit in max_chunks chunks even without overlap is rejected
    # before the splitter walks its megabytes; only texts long enough to be such are counted.
    suspect = [i for i in range(table.num_rows)
               if not rejected[i] and len(texts[i]) > 2 * max_chunks * size]
    tokens = dict(zip(suspect, token_counter(model).full_counts([texts[i] for i in suspect])
                      .tolist(), strict=True)) if suspect else {}
    too_long = np.zeros(table.num_rows, dtype=bool)
    pieces: list[list[tuple[int, int, str]] | None] = []
    for i, text in enumerate(texts):
        if rejected[i]:
            pieces.append(None)
        elif tokens.get(i, 0) > max_chunks * size:
            too_long[i] = True
            pieces.append(None)
        else:
            pieces.append(cutter.chunks(text))
    if too_long.any():
        table = set_rejects(table, too_long, [
            f"document has about {tokens[i]:,} tokens: more than --max-chunks {max_chunks} "
            f"chunks of {size} tokens hold" for i in np.flatnonzero(too_long)])
    return reject_long_documents(table, pieces, max_chunks, size), pieces


def head_chunks(table: pa.Table, model: ModelConfig) -> pa.Table:
    """Add what the model embeds of each chunk: the chunk headed by its --chunk-header value."""
    from actors.encoders.chunker import chunker

    cutter = chunker(model)
    headers = header_values(table, model.chunk_header).to_pylist()
    texts = table.column("text").to_pylist()
    chunked = pc.is_valid(table.column(CHUNK)).to_numpy(zero_copy_only=False)
    embedded = [cutter.headed(h, t) if k else t
                for h, t, k in zip(headers, texts, chunked.tolist(), strict=True)]
    return table.append_column(EMBED_TEXT, pa.array(embedded, pa.string()))
