"""The chunking reference, outside the pipeline: plain sentence-transformers + numpy on SciFact.

Each document (title + " " + text) is cut into windows of 254 tokens every 200 tokens; the
windows' token ids go to the model as they are ([CLS] ids [SEP]). Scored like `eval retrieval`
(nDCG@10, recall@100): the first window alone (= truncation), the best window per document
(MaxP), and the normalized mean of a document's windows. Then the body alone in windows that
each carry the title, as DPR embeds passages ([CLS] title [SEP] window [SEP], the title cut to
48 tokens and the window that much shorter), scored by the best window. Compare with
`embedfleet eval retrieval --chunk` and `--chunk --chunk-title` (the pipeline's own chunks,
docs/EVAL.md).

    python bench/chunking_reference.py      # about 15 minutes of CPU on 2 cores

It writes docs/bench/chunking_reference.json, which `make eval` puts beside the pipeline's rows.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine import BENCH_DIR, load_note, machine_name  # noqa: E402

WINDOW, STRIDE = 254, 200
TITLE_TOKENS = 48


def starts_of(length: int, size: int, stride: int) -> list[int]:
    """Window starts every `stride` tokens until a window reaches the end."""
    starts = [0]
    while starts[-1] + size < length:
        starts.append(starts[-1] + stride)
    return starts


def windows_of(tokenizer, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
    """Every document's windows as token ids with specials, and the document of each window."""
    windows, owner = [], []
    for doc, text in enumerate(texts):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        for start in starts_of(len(ids), WINDOW, STRIDE):
            windows.append([tokenizer.cls_token_id, *ids[start:start + WINDOW],
                            tokenizer.sep_token_id])
            owner.append(doc)
    return windows, np.asarray(owner)


def titled_windows_of(tokenizer, records: list[dict]) -> tuple[list[list[int]], np.ndarray]:
    """Each body's windows, every one headed by its title: [CLS] title [SEP] window [SEP]."""
    windows, owner = [], []
    for doc, record in enumerate(records):
        title = tokenizer(record["title"], add_special_tokens=False)["input_ids"][:TITLE_TOKENS]
        body = tokenizer(record["text"], add_special_tokens=False)["input_ids"]
        head = [*title, tokenizer.sep_token_id] if title else []
        size = WINDOW - len(head)
        for start in starts_of(len(body), size, size * STRIDE // WINDOW):
            windows.append([tokenizer.cls_token_id, *head, *body[start:start + size],
                            tokenizer.sep_token_id])
            owner.append(doc)
    return windows, np.asarray(owner)


def best_of(scores: np.ndarray, owner: np.ndarray, docs: int) -> np.ndarray:
    """Queries x documents: each document's best window score."""
    best = np.full((scores.shape[0], docs), -np.inf, dtype=np.float32)
    np.maximum.at(best.T, owner, scores.T)
    return best


def embed_ids(model, windows: list[list[int]], batch: int = 32) -> np.ndarray:
    """Unit vectors of token-id windows, shortest first in batches (as encode sorts)."""
    import torch

    out = np.zeros((len(windows), model.get_embedding_dimension()), np.float32)
    order = np.argsort([len(w) for w in windows])
    with torch.inference_mode():
        for first in range(0, len(order), batch):
            rows = order[first:first + batch]
            width = max(len(windows[i]) for i in rows)
            ids = torch.zeros((len(rows), width), dtype=torch.long)
            mask = torch.zeros_like(ids)
            for r, i in enumerate(rows):
                ids[r, :len(windows[i])] = torch.tensor(windows[i])
                mask[r, :len(windows[i])] = 1
            features = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
            vectors = model(features)["sentence_embedding"]
            out[rows] = torch.nn.functional.normalize(vectors, dim=1).numpy()
    return out


def ranked(scores: np.ndarray, doc_ids: list[str], query_ids: list[str]) -> dict:
    """Top 100 (doc id, score) per query from a queries x documents score matrix."""
    return {q: [(doc_ids[k], float(scores[i, k])) for k in np.argsort(-scores[i])[:100]]
            for i, q in enumerate(query_ids)}


def main() -> None:
    """Print the three scores and the window count as JSON."""
    note = load_note()  # before the model loads: how busy the machine was
    from sentence_transformers import SentenceTransformer

    from actors.encoders.models import resolve_model_source
    from jobs.eval.data import default_path, read_retrieval
    from jobs.eval.run import score_retrieval

    data = read_retrieval(default_path("scifact"))
    model = SentenceTransformer(resolve_model_source("all-MiniLM-L6-v2"), device="cpu")
    windows, owner = windows_of(model.tokenizer, data.doc_texts)
    start = time.perf_counter()
    vectors = embed_ids(model, windows)
    seconds = time.perf_counter() - start
    query_ids = list(data.queries)
    queries = model.encode([data.queries[q] for q in query_ids], normalize_embeddings=True)
    scores = queries @ vectors.T
    docs = len(data.doc_ids)
    best = best_of(scores, owner, docs)
    first = np.array([np.flatnonzero(owner == d)[0] for d in range(docs)])
    mean = np.zeros((docs, vectors.shape[1]))
    np.add.at(mean, owner, vectors)
    mean /= np.linalg.norm(mean, axis=1, keepdims=True)
    result = {"machine": machine_name(), **note,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "windows": len(windows), "encode_s": round(seconds, 1),
              "first window (truncation)": score_retrieval(
                  ranked(scores[:, first], data.doc_ids, query_ids), data.qrels),
              "best window (MaxP)": score_retrieval(ranked(best, data.doc_ids, query_ids), data.qrels),
              "mean of windows": score_retrieval(
                  ranked(queries @ mean.T, data.doc_ids, query_ids), data.qrels)}
    titled, titled_owner = titled_windows_of(model.tokenizer, data.titled_records())
    titled_best = best_of(queries @ embed_ids(model, titled).T, titled_owner, docs)
    result["titled windows"] = len(titled)
    result["best title-headed window (MaxP)"] = score_retrieval(
        ranked(titled_best, data.doc_ids, query_ids), data.qrels)
    (BENCH_DIR / "chunking_reference.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
