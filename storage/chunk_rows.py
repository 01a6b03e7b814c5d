"""A chunked run's write-side rules: a document is written whole or rejected whole, counted once."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from storage.schema import CHUNK, DOC_ID

REJECT = "_reject"
CHUNKS = "_chunks"  # internal column of a chunk row: how many chunks its document has
EMBED_TEXT = "_embed_text"  # internal: what the model embeds of a chunk, when a header heads it


def model_input_column(batch: pa.Table) -> str:
    """The column whose values the model embeds: a headed chunk's header and text, else the text."""
    return EMBED_TEXT if EMBED_TEXT in batch.column_names else "text"


def whole_documents(batch: pa.Table) -> pa.Table:
    """Reject every chunk of a document one of whose chunks failed (no half-embedded document)."""
    rejected = pc.is_valid(batch.column(REJECT))
    chunk_failed = pc.and_(rejected, pc.is_valid(batch.column(CHUNK)))
    if not pc.any(chunk_failed).as_py():
        return batch
    failed = batch.filter(chunk_failed)
    first = dict(zip(failed.column(DOC_ID).to_pylist(),
                     zip(failed.column(CHUNK).to_pylist(), failed.column(REJECT).to_pylist(),
                         strict=True), strict=False))
    reasons = batch.column(REJECT).to_pylist()
    for i, doc in enumerate(batch.column(DOC_ID).to_pylist()):
        if reasons[i] is None and doc in first:
            chunk, reason = first[doc]
            reasons[i] = f"chunk {chunk} of the document failed: {reason}"
    return batch.set_column(batch.schema.get_field_index(REJECT), REJECT,
                            pa.array(reasons, pa.string()))


def first_row_per_document(bad: pa.Table) -> pa.Table:
    """One reject per document: rows rejected before chunking are documents already; of a
    document's failed chunks, the first (its reason names the chunk)."""
    if bad.num_rows == 0:
        return bad
    chunks = pc.is_valid(bad.column(CHUNK)).to_numpy(zero_copy_only=False)
    keep = ~chunks
    seen: set[str] = set()
    for i, doc in enumerate(bad.column(DOC_ID).to_pylist()):
        if chunks[i] and doc not in seen:
            seen.add(doc)
            keep[i] = True
    return bad.filter(pa.array(keep))


def documents_in(good: pa.Table) -> int:
    """Documents embedded in a batch of chunk rows: each document's chunk 0 is in one batch."""
    return int(pc.sum(pc.equal(good.column(CHUNK), 0)).as_py() or 0)


def record_rows(good: pa.Table) -> pa.Table:
    """A write record's rows: one per document (id, content_hash); a document whose chunks are
    not all in this batch gets no hash, so its record is never reused (no resumed half)."""
    if good.num_rows == 0:
        return pa.table({"id": pa.array([], pa.string()), "content_hash": pa.array([], pa.string())})
    groups = good.group_by(DOC_ID).aggregate([(CHUNK, "count"), (CHUNKS, "max"),
                                              ("content_hash", "max")])
    whole = pc.equal(groups.column(f"{CHUNK}_count"), groups.column(f"{CHUNKS}_max"))
    hashes = pc.if_else(whole, groups.column("content_hash_max"), pa.nulls(groups.num_rows, pa.string()))
    return pa.table({"id": groups.column(DOC_ID), "content_hash": hashes})
