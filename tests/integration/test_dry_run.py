"""`--dry-run`: the figures of the real run that follows, and nothing committed anywhere."""

from __future__ import annotations

import json

from jobs.config import build_config
from jobs.embed.dry_run import dry_run
from storage.db import dataset_or_none
from storage.names import companion
from tests.support.corpus import corpus_records, write_jsonl
from tests.support.embedding import embed


def config(db: str, source, **settings):
    return build_config({"table": "docs", "db": db, "paths": [str(source)], "dry_run": True,
                         **settings})


def messy_records() -> list[dict]:
    records = corpus_records(40)
    return records + [dict(records[3], text="a second doc-0003"), dict(records[5]),
                      {"id": "blank", "text": "  "}]


def test_a_dry_run_reports_what_the_run_then_does(ray_cluster, db, tmp_path):
    source = write_jsonl(tmp_path / "c.jsonl", messy_records())
    dry = dry_run(config(db, source, model="fake:8"))
    assert dataset_or_none(db, "docs") is None and dataset_or_none(db, companion("docs", "runs")) is None
    summary = embed(db, source, model="fake:8")
    assert (dry.read, dry.to_embed, dry.rejected, dry.unchanged) == (
        summary.read, summary.embedded, summary.rejected, summary.skipped_unchanged) == (43, 40, 3, 0)
    assert dry.rejects_by_reason == {"duplicate id": 2, "empty text": 1}
    assert dry.tokens == summary.tokens and dry.new == summary.inserted
    assert dry.estimate_s is not None and dry.calibration["texts"] == 40
    assert json.loads(dry.to_json())["dry_run"] is True


def test_an_incremental_dry_run_counts_new_changed_unchanged_and_gone(ray_cluster, db, tmp_path):
    records = corpus_records(30)
    embed(db, write_jsonl(tmp_path / "v1.jsonl", records), model="fake:8")
    changed = [dict(r, text=r["text"] + " revised") if i < 5 else r for i, r in enumerate(records)]
    source = write_jsonl(tmp_path / "v2.jsonl", changed[3:] + corpus_records(2, prefix="new"))
    dry = dry_run(config(db, source, model="fake:8", delete_missing=True))
    assert dataset_or_none(db, "docs").version == 1
    summary = embed(db, source, model="fake:8", delete_missing=True)
    assert (dry.new, dry.changed, dry.unchanged, dry.to_delete) == (
        summary.inserted, summary.updated, summary.skipped_unchanged, summary.deleted) == (2, 2, 25, 3)
    assert dry.tokens == summary.tokens


def test_model_tokens_and_window_cuts_match_the_run(ray_cluster, db, tmp_path, tiny_bert):
    records = corpus_records(20)
    records[0]["text"] = " ".join(["a long text that the window cuts"] * 20)
    source = write_jsonl(tmp_path / "c.jsonl", records)
    settings = {"model": tiny_bert, "max_seq_length": 16, "doc_prefix": "passage: "}
    dry = dry_run(config(db, source, **settings))
    summary = embed(db, source, **settings)
    assert dry.tokens == summary.tokens and dry.window == 16
    assert dry.over_window >= 1
