"""Where the test data lives, and small corpora written as JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CORPUS = REPO / "examples" / "sample_corpus.jsonl"
EVAL_DIR = REPO.parent / "shared" / "eval"


def write_jsonl(path: Path, records: list[dict]) -> Path:
    """Write records as JSON lines and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def corpus_records(n: int, prefix: str = "doc") -> list[dict]:
    """n distinct small documents with a topic and a year."""
    topics = ["space", "food", "music", "sport"]
    return [{"id": f"{prefix}-{i:04d}", "text": f"{topics[i % 4]} note number {i} about {topics[i % 4]}",
             "topic": topics[i % 4], "year": 2000 + i % 25} for i in range(n)]
