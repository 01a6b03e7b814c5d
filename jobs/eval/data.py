"""Readers for the evaluation sets (STS Benchmark, BEIR SciFact), following MTEB's protocol."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
EVAL_ROOT = REPO.parent / "shared" / "eval"


@dataclass(frozen=True)
class StsPairs:
    """Sentence pairs with their gold similarity (0-5)."""

    scores: np.ndarray
    first: list[str]
    second: list[str]


@dataclass(frozen=True)
class RetrievalSet:
    """A corpus, the judged queries and their graded relevance."""

    doc_ids: list[str]
    doc_texts: list[str]
    queries: dict[str, str]  # only the queries that have judgments
    qrels: dict[str, dict[str, int]]
    doc_titles: list[str] = field(default_factory=list)  # BEIR's title field ("" for none)

    def titled_records(self) -> list[dict[str, str]]:
        """(id, title, body) records: each document's text without the title it starts with."""
        titles = self.doc_titles or [""] * len(self.doc_ids)
        return [{"id": i, "title": t, "text": x[len(t):].strip() if t and x.startswith(t) else x}
                for i, t, x in zip(self.doc_ids, titles, self.doc_texts, strict=True)]


def default_path(*parts: str) -> Path:
    """A path under the shared evaluation folder beside the repository."""
    return EVAL_ROOT.joinpath(*parts)


def read_sts(path: str | Path) -> StsPairs:
    """STS Benchmark file: tab-separated, no quoting; columns 5-7 are score, sentence1, sentence2.

    Some lines carry two extra source columns after the sentences; a CSV parser would also
    mangle the sentences that contain quote characters, so each line is split on tabs.
    """
    scores, first, second = [], [], []
    # Split on newlines only: str.splitlines would also break on characters like U+2028.
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) < 7:
            raise ValueError(f"{path}:{number}: expected at least 7 tab-separated columns")
        scores.append(float(cells[4]))
        first.append(cells[5])
        second.append(cells[6])
    return StsPairs(np.asarray(scores, dtype=np.float64), first, second)


def read_retrieval(folder: str | Path, split: str = "test", max_docs: int | None = None) -> RetrievalSet:
    """BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv (header row, CRLF).

    A document's text is (title + " " + text).strip(). With max_docs the corpus is cut to the
    first documents and only the queries judged against them are kept, with those judgments.
    """
    folder = Path(folder)
    ids, texts, titles = [], [], []
    with open(folder / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            doc = json.loads(line)
            ids.append(str(doc["_id"]))
            texts.append((doc.get("title", "") + " " + doc.get("text", "")).strip())
            titles.append(doc.get("title", "").strip())
            if max_docs is not None and len(ids) >= max_docs:
                break
    qrels = read_qrels(folder / "qrels" / f"{split}.tsv")
    if max_docs is not None:
        kept = set(ids)
        qrels = {q: {d: g for d, g in judged.items() if d in kept} for q, judged in qrels.items()}
        qrels = {q: judged for q, judged in qrels.items() if any(g > 0 for g in judged.values())}
    queries = {}
    with open(folder / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                query = json.loads(line)
                if str(query["_id"]) in qrels:
                    queries[str(query["_id"])] = query["text"]
    missing = set(qrels) - set(queries)
    if missing:
        raise ValueError(f"{len(missing)} judged queries have no text, e.g. {sorted(missing)[0]!r}")
    return RetrievalSet(ids, texts, queries, qrels, titles)


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """query id -> {doc id: relevance} from a tab-separated file with a header row."""
    qrels: dict[str, dict[str, int]] = {}
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    for line in lines[1:]:
        cells = line.strip().split("\t")
        if len(cells) < 3:
            continue
        qrels.setdefault(cells[0], {})[cells[1]] = int(float(cells[2]))
    return qrels
