"""Chunking's pure logic: chunks fit the window in model tokens, offsets slice the text exactly."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.config import ModelConfig
from actors.encoders.chunker import HEADER_SEPARATOR, HEADER_TOKENS, Chunker, chunk_sizes, chunker
from actors.encoders.tokens import token_counter
from jobs.config import build_config
from jobs.embed.chunks import CHUNKS, chunk_documents, chunk_id, expand_chunks
from jobs.embed.plan import Truncation
from jobs.embed.rows import RAW, REJECT, content_hashes, hashed_texts
from jobs.embed.summary import truncation_line
from storage.chunk_rows import documents_in, first_row_per_document, record_rows, whole_documents
from storage.errors import ConfigError

WORDS = ["the", "protein", "binds", "receptor", "cells", "naïve", "T-cell", "IL-2", "(p<0.05)",
         "über", "résumé", "μm", "3.5%", "Patients", "were", "randomized", "…", "\u00a0", "日本"]
SENTENCE = st.tuples(st.lists(st.sampled_from(WORDS), min_size=1, max_size=30),
                     st.sampled_from([".", "!", "?", ";", ""])).map(
    lambda t: " ".join(t[0]).capitalize() + t[1])
# Whitespace alone (a lone no-break space) is no document: the plan rejects it as "empty text"
# before any chunker sees it.
TEXT = st.lists(st.lists(SENTENCE, min_size=1, max_size=8).map(" ".join),
                min_size=1, max_size=6).map("\n\n".join).filter(str.strip)


@given(text=TEXT, prefix=st.sampled_from(["", "passage: ", "search_document: "]),
       tokens=st.integers(8, 254), overlap_share=st.sampled_from([0.0, 0.1, 0.25, 0.5]),
       header=st.one_of(st.none(), SENTENCE, TEXT))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_chunk_is_longer_than_the_window_in_model_tokens(text, prefix, tokens, overlap_share,
                                                             header):
    column = None if header is None else "title"
    model = ModelConfig(chunk=True, doc_prefix=prefix, chunk_header=column)
    budget = chunk_sizes(model).tokens
    size = min(tokens, budget)
    model = ModelConfig(chunk=True, doc_prefix=prefix, chunk_tokens=size,
                        chunk_overlap=int(size * overlap_share), chunk_header=column)
    counter = token_counter(model)
    cutter = chunker(model)
    pieces = cutter.chunks(text)
    assert pieces, "a non-empty text gives at least one chunk"
    for start, end, piece in pieces:
        assert text[start:end] == piece  # offsets slice the document to exactly the chunk
        assert piece.strip()  # never an empty chunk
        # What the model sees: prefix + chunk with its special tokens, cut at nothing.
        assert counter.full_counts([prefix + piece])[0] <= counter.window
        assert counter.full_counts([piece])[0] - counter.specials <= size
        # With --chunk-header: prefix + header + chunk, as the model sees it, fits too.
        assert counter.full_counts([prefix + cutter.headed(header, piece)])[0] <= counter.window


def test_one_short_sentence_is_one_chunk():
    text = "Aspirin reduces the risk of heart attacks."
    assert chunker(ModelConfig(chunk=True)).chunks(text) == [(0, len(text), text)]


def test_long_text_is_cut_at_sentence_ends_within_the_budget():
    sentence = "The trial enrolled patients with stable angina across twelve centres. "
    text = sentence * 60
    pieces = chunker(ModelConfig(chunk=True, chunk_tokens=64, chunk_overlap=0)).chunks(text)
    assert len(pieces) > 5
    assert all(p.endswith(".") for _, _, p in pieces)  # boundaries at sentence ends
    covered = "".join(text[s:e] for s, e, _ in pieces)
    assert covered.replace(" ", "") == text.replace(" ", "")  # no overlap: nothing lost or repeated


def test_chunk_size_above_the_window_names_the_window():
    with pytest.raises(ConfigError, match="window is 256 tokens, of which 254"):
        chunk_sizes(ModelConfig(chunk=True, chunk_tokens=300))
    with pytest.raises(ConfigError, match="252 are left"):
        chunk_sizes(ModelConfig(chunk=True, chunk_tokens=254, doc_prefix="passage: "))


def test_overlap_at_or_above_the_size_is_an_error():
    with pytest.raises(ConfigError, match="must be smaller than --chunk-tokens 50"):
        ModelConfig(chunk=True, chunk_tokens=50, chunk_overlap=50)
    with pytest.raises(ConfigError, match="smaller than the chunk size"):
        chunk_sizes(ModelConfig(chunk=True, chunk_overlap=300))
    with pytest.raises(ConfigError, match="need --chunk"):
        ModelConfig(chunk_tokens=100)


def test_defaults_fill_the_window_with_a_fifth_overlapping():
    sizes = chunk_sizes(ModelConfig(chunk=True))
    assert (sizes.tokens, sizes.overlap, sizes.window) == (254, 50, 256)
    assert chunk_sizes(ModelConfig(model="fake:8", chunk=True)).window is None


def test_spec_chunking_section_maps_to_the_flags():
    config = build_config({"table": "t", "paths": ["x.jsonl"],
                           "chunking": {"tokens": 120, "overlap": 20, "max_chunks": 9}})
    assert (config.model.chunk, config.model.chunk_tokens, config.model.chunk_overlap,
            config.max_chunks) == (True, 120, 20, 9)
    assert build_config({"table": "t", "paths": ["x"], "chunking": True}).model.chunk
    with pytest.raises(ConfigError, match="chunking.size"):
        build_config({"table": "t", "paths": ["x"], "chunking": {"size": 3}})
    assert config.to_dict()["max_chunks"] == 9  # what submit ships
    headed = build_config({"table": "t", "paths": ["x"], "chunking": {"header": "title"}})
    assert (headed.model.chunk, headed.model.chunk_header) == (True, "title")


def test_a_header_heads_each_chunk_and_both_fit_the_window():
    model = ModelConfig(chunk=True, chunk_header="title", doc_prefix="passage: ")
    plain = chunk_sizes(ModelConfig(chunk=True, doc_prefix="passage: "))
    assert chunk_sizes(model).tokens == plain.tokens - HEADER_TOKENS - 1
    cutter, counter = chunker(model), token_counter(model)
    title = " ".join(["Randomized trial of interleukin-2 in naïve T-cell lymphoma"] * 12)
    text = " ".join(["The receptor binds the protein in patients were randomized."] * 80)
    for start, end, chunk in cutter.chunks(text):
        headed = cutter.headed(title, chunk)
        header, body = headed.split(HEADER_SEPARATOR, 1)
        assert body == chunk == text[start:end] and title.startswith(header)
        assert counter.full_counts([header])[0] - counter.specials == HEADER_TOKENS
        assert counter.full_counts(["passage: " + headed])[0] <= plain.window
    assert cutter.headed("Short title", "a chunk") == "Short title\na chunk"
    assert cutter.headed(None, "a chunk") == cutter.headed("  ", "a chunk") == "a chunk"
    assert cutter.headed("two\nlines", "a chunk") == "two lines\na chunk"


def test_a_header_needs_chunking_and_a_carried_column():
    with pytest.raises(ConfigError, match="--chunk-header need --chunk"):
        ModelConfig(chunk_header="title")
    with pytest.raises(ConfigError, match="not 'text'"):
        ModelConfig(chunk=True, chunk_header="text")


def test_a_headers_value_is_part_of_the_content_hash():
    table = pa.table({"text": ["same text", "same text", "same text", None],
                      "title": ["one", "two", None, "x"]})
    model = ModelConfig(model="fake:8", chunk=True, chunk_header="title")
    hashes = content_hashes(hashed_texts(table, model), "fp").to_pylist()
    assert len(set(hashes[:3])) == 3 and hashes[3] is None
    plain = content_hashes(hashed_texts(table, ModelConfig(model="fake:8", chunk=True)), "fp")
    assert len(set(plain.to_pylist()[:3])) == 1
    no_column = hashed_texts(table.drop_columns(["title"]), model)  # a block whose rows lack it
    assert content_hashes(no_column, "fp").to_pylist()[0] == hashes[2]


def _docs(texts, rejects=None):
    n = len(texts)
    return pa.table({"id": [f"d{i}" for i in range(n)], "text": texts, "year": list(range(n)),
                     "content_hash": [f"h{i}" for i in range(n)],
                     "_file": pa.array([0] * n, pa.int32()), "_row": pa.array(range(n), pa.int64()),
                     REJECT: pa.array(rejects or [None] * n, pa.string()),
                     RAW: pa.nulls(n, pa.string())})


def test_expand_gives_one_row_per_chunk_and_keeps_rejected_documents_whole():
    table = _docs(["a b c", "x", "p q"], [None, "empty text", None])
    pieces = [[(0, 1, "a"), (2, 5, "b c")], None, [(0, 3, "p q")]]
    out = expand_chunks(table, pieces)
    assert out.column("id").to_pylist() == ["d0#0", "d0#1", "d1", "d2#0"]
    assert out.column("doc_id").to_pylist() == ["d0", "d0", "d1", "d2"]
    assert out.column("chunk").to_pylist() == [0, 1, None, 0]
    assert out.column("text").to_pylist() == ["a", "b c", "x", "p q"]
    assert out.column("start").to_pylist() == [0, 2, None, 0]
    assert out.column("year").to_pylist() == [0, 0, 1, 2]
    assert out.column("content_hash").to_pylist() == ["h0", "h0", "h1", "h2"]
    assert out.column(CHUNKS).to_pylist() == [2, 2, 0, 1]
    assert out.column(REJECT).to_pylist() == [None, None, "empty text", None]


def test_chunk_ids_are_unique_even_when_document_ids_look_like_chunk_ids():
    assert chunk_id("a", 1) != chunk_id("a#1", 0)
    assert len({chunk_id(d, c) for d in ("a", "a#1", "a#1#0") for c in range(3)}) == 9


def test_a_document_over_max_chunks_is_rejected_with_the_count():
    sentence = "Short sentence number here. "
    table = _docs([sentence * 14, "One chunk only."])  # 56 words: 8-word chunks overlapping by 4
    model = ModelConfig(model="fake:8", chunk=True, chunk_tokens=8, chunk_overlap=4)
    rejected, pieces = chunk_documents(table, model, max_chunks=10)
    reasons = rejected.column(REJECT).to_pylist()
    assert reasons[0].startswith("document gives ") and "more than --max-chunks 10" in reasons[0]
    assert reasons[1] is None and len(pieces[1]) == 1
    huge, _ = chunk_documents(_docs([sentence * 5000]), model, max_chunks=10)
    assert "more than --max-chunks 10 chunks of 8 tokens hold" in huge.column(REJECT)[0].as_py()


def _written(chunks_of_docs, failed=()):
    rows = []
    for doc, (count, total) in chunks_of_docs.items():
        for c in range(count):
            rows.append({"id": chunk_id(doc, c), "doc_id": doc, "chunk": c, "content_hash": f"h{doc}",
                         CHUNKS: total, REJECT: "encoder failed" if (doc, c) in failed else None})
    return pa.Table.from_pylist(rows)


def test_a_failed_chunk_rejects_its_whole_document_once():
    batch = whole_documents(_written({"a": (3, 3), "b": (2, 2)}, failed={("a", 1)}))
    reasons = dict(zip(batch.column("id").to_pylist(), batch.column(REJECT).to_pylist(), strict=True))
    assert reasons["b#0"] is None and reasons["a#1"] == "encoder failed"
    assert reasons["a#0"] == "chunk 1 of the document failed: encoder failed"
    bad = batch.filter(pa.compute.is_valid(batch.column(REJECT)))
    assert first_row_per_document(bad).column("doc_id").to_pylist() == ["a"]


def test_records_hold_documents_and_never_a_split_one():
    good = _written({"a": (3, 3), "b": (1, 2)})  # b's second chunk went to another write task
    held = record_rows(good).sort_by("id")
    assert held.column("id").to_pylist() == ["a", "b"]
    assert held.column("content_hash").to_pylist() == ["ha", None]
    assert documents_in(_written({"a": (3, 3), "b": (2, 2)})) == 2


def test_truncation_report_counts_tokens_past_the_window():
    report = Truncation.of([{"documents": 3, "tokens": 1000, "over_window": 1,
                             "tokens_past_window": 100}], chunked=False)
    assert report.dropped_share == pytest.approx(0.1)
    assert "100 tokens (10.0%) never embedded" in truncation_line(report.to_dict())
    chunked = Truncation(3, 1000, 1, 100, chunked=True)
    assert "truncation would drop 100 of 1,000" in truncation_line(chunked.to_dict())
    assert Truncation.of([{"documents": 1, "tokens": -1, "over_window": -1,
                           "tokens_past_window": -1}], False) is None
    assert Truncation(3, 1000, 1, 100, chunked=True).dropped == 0
    assert truncation_line(Truncation(3, 1000, 0, 0).to_dict()) == (
        "no document longer than the model's window")


def test_chunker_of_a_python_factory_model_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="needs a tokenizer"):
        Chunker(ModelConfig(model="python:tests.support.fault_encoders:make", chunk=True))
