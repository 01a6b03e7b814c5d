"""Chunked runs on real Ray and LanceDB: one row per chunk, counts by document, incremental by document."""

from __future__ import annotations

import json
import logging
import shutil
from collections import defaultdict

import numpy as np
import pytest

from jobs.errors import RunError
from storage.info import table_info
from storage.runs import list_runs
from tests.support.corpus import write_jsonl
from tests.support.embedding import dataset, embed

CHUNKING = {"model": "fake:16", "chunk": True, "chunk_tokens": 12, "chunk_overlap": 3,
            "max_chunks": 20}
SENTENCES = ["Stars form in cold clouds of gas.", "Bread rises because yeast makes gas.",
             "The orchestra tuned to the oboe.", "A marathon is forty-two kilometres.",
             "Comets grow tails near the sun.", "Rye dough is sticky and dense."]


def long_text(seed: int, sentences: int) -> str:
    """A document of `sentences` sentences, different for each seed."""
    return " ".join(f"{SENTENCES[(seed + i) % len(SENTENCES)][:-1]} number {seed}-{i}."
                    for i in range(sentences))


def records() -> list[dict]:
    docs = [{"id": f"d{i}", "text": long_text(i, 1 + i % 5), "year": 2000 + i} for i in range(10)]
    docs += [{"id": "empty", "text": "   "},
             {"id": "huge", "text": long_text(99, 60)},  # more than 20 chunks
             {"id": "d3", "text": "A second d3: rejected as a duplicate."}]
    return docs


def chunks_by_document(db: str) -> dict[str, list[dict]]:
    out = defaultdict(list)
    for row in dataset(db).to_table().to_pylist():
        out[row["doc_id"]].append(row)
    return {doc: sorted(rows, key=lambda r: r["chunk"]) for doc, rows in out.items()}


@pytest.fixture(scope="module")
def first_run(ray_cluster, tmp_path_factory):
    """A chunked table of 10 documents (plus 3 rejects); each test changes a copy of it."""
    folder = tmp_path_factory.mktemp("chunked")
    summary = embed(str(folder / "db"), write_jsonl(folder / "c.jsonl", records()), **CHUNKING)
    return str(folder / "db"), summary


def test_one_row_per_chunk_with_offsets_and_document_counts(first_run):
    db, summary = first_run
    texts = {r["id"]: r["text"] for r in records()[:10]}
    chunks = chunks_by_document(db)
    assert sorted(chunks) == sorted(texts)
    for doc, rows in chunks.items():
        assert [r["chunk"] for r in rows] == list(range(len(rows)))
        for row in rows:
            assert row["id"] == f"{doc}#{row['chunk']}"
            assert texts[doc][row["start"]:row["end"]] == row["text"] and row["text"].strip()
            assert row["year"] == int(doc[1:]) + 2000  # carried columns on every chunk
        assert len({r["content_hash"] for r in rows}) == 1
    assert max(len(rows) for rows in chunks.values()) > 2  # long documents really were cut
    # Counts are documents: 13 read = 10 embedded + 3 rejected; chunks written are the rows.
    assert (summary.read, summary.embedded, summary.rejected) == (13, 10, 3)
    assert summary.chunks == dataset(db).count_rows() == sum(len(r) for r in chunks.values())
    rejects = {r["id"]: r["reason"] for r in dataset(db, "docs__rejects").to_table().to_pylist()}
    assert rejects["empty"] == "empty text"
    assert "more than --max-chunks 20" in rejects["huge"]
    assert rejects["d3"].startswith("duplicate id 'd3'")
    assert table_info(db, "docs")["documents"] == 10
    assert list_runs(db, "docs")[-1]["chunks"] == summary.chunks


def test_incremental_run_replaces_documents_whole(first_run, tmp_path):
    source_db, _ = first_run
    db = str(tmp_path / "db")
    shutil.copytree(source_db, db)
    before = chunks_by_document(db)
    docs = {r["id"]: r for r in records()[:10]}
    longest = max(before, key=lambda d: len(before[d]))
    docs[longest]["text"] = "Now one short sentence."  # many chunks -> one
    docs["d0"]["text"] = long_text(50, 6)  # one chunk -> many
    del docs["d1"]  # gone: all its chunks go with --delete-missing
    docs["new"] = {"id": "new", "text": long_text(7, 3), "year": 2030}
    source = write_jsonl(tmp_path / "c.jsonl", list(docs.values()))
    version = dataset(db).version
    summary = embed(db, source, delete_missing=True, **CHUNKING)
    assert (summary.mode, summary.read, summary.embedded, summary.skipped_unchanged) == (
        "incremental", 10, 3, 7)
    assert (summary.updated, summary.inserted, summary.deleted) == (2, 1, 1)
    assert dataset(db).version == version + 1  # one commit
    after = chunks_by_document(db)
    assert set(after) == set(docs)
    assert [r["text"] for r in after[longest]] == ["Now one short sentence."]
    assert len(after["d0"]) > 1 and len(after["new"]) > 1
    for doc, rows in after.items():
        text = docs[doc]["text"]
        assert [r["chunk"] for r in rows] == list(range(len(rows)))
        assert "".join(text[r["start"]:r["end"]] for r in rows[:1]) == rows[0]["text"]
    for doc in set(docs) - {longest, "d0", "new"}:  # nothing else changed, not even a timestamp
        assert after[doc] == before[doc]


def test_a_chunk_setting_change_is_refused_until_rebuild(first_run, tmp_path):
    source_db, _ = first_run
    db = str(tmp_path / "db")
    shutil.copytree(source_db, db)
    source = write_jsonl(tmp_path / "c.jsonl", records())
    with pytest.raises(RunError, match="chunk_tokens: 12 != 10"):
        embed(db, source, **{**CHUNKING, "chunk_tokens": 10})
    with pytest.raises(RunError, match="chunk: True != False"):
        embed(db, source, model="fake:16")


def test_real_model_run_reports_truncation_and_warns_once(ray_cluster, db, tmp_path, caplog):
    long = " ".join(f"Sentence {i} about proteins binding receptors in cells." for i in range(60))
    source = write_jsonl(tmp_path / "c.jsonl", [{"id": "long", "text": long},
                                                {"id": "short", "text": "A short abstract."}])
    with caplog.at_level(logging.WARNING, logger="embedfleet"):
        summary = embed(db, source, table="trunc")
    report = summary.truncation
    assert (report["documents"], report["documents_over_window"]) == (2, 1)
    assert report["tokens_dropped"] > 0.5 * report["tokens_in_documents"]
    warnings = [r.message for r in caplog.records if "--chunk" in r.getMessage()]
    assert len(warnings) == 1
    assert "tokens" in summary.line() and "never embedded" in summary.line()
    assert table_info(db, "trunc")["truncation"]["tokens_dropped"] == report["tokens_dropped"]
    chunked = embed(db, source, table="trunc_chunked", chunk=True)
    assert chunked.truncation["tokens_dropped"] == 0 and chunked.chunks > 2
    assert json.loads(json.dumps(chunked.to_dict()))["chunks"] == chunked.chunks


def test_a_dry_run_counts_the_chunks_the_run_then_writes(first_run, tmp_path):
    from jobs.config import build_config
    from jobs.embed.dry_run import dry_run

    _, summary = first_run
    source = write_jsonl(tmp_path / "c.jsonl", records())
    report = dry_run(build_config({"table": "docs", "db": str(tmp_path / "db"),
                                   "paths": [str(source)], **CHUNKING}))
    assert (report.read, report.to_embed, report.chunks) == (13, 11, summary.chunks)
    assert report.rejected == 3  # empty, over --max-chunks, the duplicate


def test_a_chunk_header_heads_every_chunk_as_embedded_and_its_change_reembeds(ray_cluster, db,
                                                                              tmp_path):
    from actors.encoders.fake import HashingEncoder
    from jobs.config import build_config
    from jobs.embed.dry_run import dry_run
    from jobs.embed.sources import SourceError
    from tests.support.embedding import stored, vectors_of

    docs = [{"id": f"d{i}", "title": f"Title {i} about {SENTENCES[i][:-1].lower()}",
             "text": long_text(i, 3)} for i in range(4)]
    docs[3]["title"] = None  # no header: the chunk alone is embedded
    source = write_jsonl(tmp_path / "c.jsonl", docs)
    headed = {**CHUNKING, "chunk_header": "title"}
    dry = dry_run(build_config({"table": "docs", "db": db, "paths": [str(source)], **headed}))
    first = embed(db, source, **headed)
    assert (first.read, first.embedded, first.rejected) == (4, 4, 0)
    assert (dry.chunks, dry.tokens) == (first.chunks, first.tokens)  # headers counted as embedded
    data = stored(db)
    encoder = HashingEncoder(16)
    titles = {d["id"]: d["title"] for d in docs}
    expected = encoder.embed([f"{titles[d]}\n{t}" if titles[d] else t for d, t in
                              zip(data.column("doc_id").to_pylist(), data.column("text").to_pylist(),
                                  strict=True)])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert abs(vectors_of(data) - expected).max() < 1e-6  # the header went into every vector
    texts = {d["id"]: d["text"] for d in docs}
    for row in data.to_pylist():  # the stored chunk is the document's own text, no header
        assert texts[row["doc_id"]][row["start"]:row["end"]] == row["text"]

    docs[1]["title"] = "Another title"  # the text is unchanged: the header alone changed
    write_jsonl(source, docs)
    again = embed(db, source, mode="incremental", **headed)
    assert (again.embedded, again.skipped_unchanged) == (1, 3)
    with pytest.raises(RunError, match="made differently.*chunk_header"):
        embed(db, source, mode="incremental", **CHUNKING)  # without the header: other vectors
    write_jsonl(tmp_path / "untitled.jsonl", [{"id": "x", "text": "no title here"}])
    with pytest.raises(SourceError, match=r"untitled\.jsonl: no column 'title' for --chunk-header"):
        embed(db, tmp_path / "untitled.jsonl", mode="incremental", **headed)
