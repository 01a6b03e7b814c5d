"""Throughput: the whole embed job (read -> actors -> LanceDB commit) vs plain encode, same texts.

Side by side in one run, on SciFact documents (title + abstract, ~240 tokens) and on the STS-B
test sentences (~15 tokens): plain `SentenceTransformer.encode` in this process (batch 32, the
model loaded beforehand) before and after the job runs, then the job with each backend on a
started local Ray. The job's time is the run's own (planning pass, actor start and model load,
embedding, fragment writes, the commit), not Ray's start-up, which is reported apart.

    python bench/throughput.py --docs 2000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine import (  # noqa: E402 - bench/ is the script's folder
    BENCH_DIR,
    fp32_gflops,
    load_note,
    machine_name,
    model_flops_per_token,
)

BACKENDS = ("torch/none", "torch/bf16", "onnx/none", "onnx/int8", "openvino/bf16")


CORPORA = ("docs", "sentences", "chunked")


def corpora(docs: int, sentences: int | None, wanted=CORPORA) -> dict[str, tuple[list[str], dict]]:
    """The texts of each corpus, in file order, and the job settings it runs with.

    The chunked corpus is the same SciFact documents run with --chunk: its plain side encodes
    the very chunks the job embeds (cut here by the job's own chunker, default settings).
    """
    from jobs.eval.data import default_path, read_retrieval, read_sts

    sts = read_sts(default_path("stsbenchmark", "sts-test.csv"))
    scifact = read_retrieval(default_path("scifact"))
    sentences_all = (sts.first + sts.second)[:sentences]
    out = {}
    if "docs" in wanted:
        out[f"SciFact docs ({docs:,})"] = (scifact.doc_texts[:docs], {})
    if "sentences" in wanted:
        out[f"STS-B test sentences ({len(sentences_all):,})"] = (sentences_all, {})
    if "chunked" in wanted:
        out[f"SciFact docs ({docs:,}), chunked (--chunk)"] = (scifact.doc_texts[:docs],
                                                            {"chunk": True})
    return out


def chunk_texts(texts: list[str]) -> list[str]:
    """The chunks the job cuts the texts into with --chunk (default sizes)."""
    from actors.config import ModelConfig
    from actors.encoders.chunker import chunker

    cutter = chunker(ModelConfig(chunk=True))
    return [piece for text in texts for _, _, piece in cutter.chunks(text)]


def plain_encode(model, texts: list[str]) -> float:
    """Seconds for SentenceTransformer.encode of the texts, batch 32 (its default)."""
    start = time.perf_counter()
    model.encode(texts, batch_size=32)
    return time.perf_counter() - start


def job_run(texts: list[str], backend: str, workdir: Path, table: str,
            model: str = "all-MiniLM-L6-v2", settings: dict | None = None) -> dict:
    """One embed job over the texts with a backend; its summary."""
    from jobs.config import build_config
    from jobs.embed.run import run_embed

    name, quantize = backend.split("/")
    source = workdir / f"{table}.jsonl"
    if not source.exists():
        source.write_text("".join(json.dumps({"id": f"r{i}", "text": t}) + "\n"
                                  for i, t in enumerate(texts)))
    summary = run_embed(build_config({"table": table, "db": str(workdir / "db"),
                                      "paths": [str(source)], "model": model, "backend": name,
                                      "quantize": quantize, "mode": "overwrite",
                                      **(settings or {})}))
    return summary.to_dict()


def encoder_alone(texts: list[str]) -> float:
    """Seconds for the embedder's own encoder (torch fp32, job defaults) in this process.

    No Ray, no process start, no model load: set beside the job's time, it shows what the
    job's batching is worth and what its fixed costs are.
    """
    from actors.config import EncoderOptions, ModelConfig
    from actors.encoders import load_encoder
    from jobs.config import ComputeConfig

    rows = ComputeConfig().batch_size  # one Ray Data batch per call, as the actor gets them
    encoder = load_encoder(EncoderOptions(ModelConfig(), max_batch_rows=rows))
    start = time.perf_counter()
    for first in range(0, len(texts), rows):
        encoder.embed_with_lengths(texts[first:first + rows])
    return time.perf_counter() - start


def warm_exports(backends: list[str]) -> dict[str, float]:
    """Export (once per machine, then cached) and load every backend; seconds per backend."""
    from actors.config import ModelConfig
    from actors.encoders import load_encoder

    seconds = {}
    for backend in backends:
        name, quantize = backend.split("/")
        start = time.perf_counter()
        load_encoder(ModelConfig(backend=name, quantize=quantize))
        seconds[backend] = round(time.perf_counter() - start, 1)
    return seconds


def measure(docs: int, sentences: int | None, backends: list[str], wanted=CORPORA) -> dict:
    """Every figure of the section, measured in this one process."""
    import ray
    from sentence_transformers import SentenceTransformer

    from actors.encoders.models import resolve_model_source
    from jobs.ray_connect import connect_ray

    result = {"machine": machine_name(), **load_note(), "docs": docs}  # before anything loads
    model = SentenceTransformer(resolve_model_source("all-MiniLM-L6-v2"), device="cpu")
    result["gflops_fp32"] = round(fp32_gflops(), 1)
    result["load_s"] = warm_exports(backends)
    start = time.perf_counter()
    connect_ray()
    with tempfile.TemporaryDirectory(prefix="embedfleet-bench-") as root:
        # Start-up, like the plain side's model load: a first job on a fresh cluster also waits
        # for Ray to start the worker processes of its read tasks.
        job_run([f"warm-up text {i}" for i in range(32)], "torch/none", Path(root), "warm",
                model="fake:8")
    result["ray_start_s"] = round(time.perf_counter() - start, 1)
    result["corpora"] = []
    with tempfile.TemporaryDirectory(prefix="embedfleet-bench-") as root:
        for index, (label, (documents, settings)) in enumerate(
                corpora(docs, sentences, wanted).items()):
            # Plain encode gets what the model embeds: the texts, or with --chunk their chunks.
            texts = chunk_texts(documents) if settings.get("chunk") else documents
            tokens = [len(ids) for ids in model.tokenizer(
                texts, truncation=True, max_length=model.max_seq_length)["input_ids"]]
            mean_tokens = sum(tokens) / len(tokens)
            limit = result["gflops_fp32"] * 1e9 / model_flops_per_token(
                model[0].auto_model.config, mean_tokens)
            row = {"corpus": label, "texts": len(texts), "documents": len(documents),
                   "tokens": sum(tokens),
                   "mean_tokens": round(mean_tokens, 1), "limit_tokens_per_s": round(limit)}
            plain = [plain_encode(model, texts)]
            row["encoder_s"] = round(encoder_alone(texts), 2)
            # A chunked row runs the default backend only: it measures chunking, not backends.
            runs = backends[:1] if settings else backends
            row["jobs"] = {b: job_run(documents, b, Path(root), f"c{index}", settings=settings)
                           for b in runs}
            plain.append(plain_encode(model, texts))
            row["plain_s"] = [round(p, 2) for p in plain]
            result["corpora"].append(row)
    ray.shutdown()
    return result


def markdown(result: dict) -> str:
    """The BENCHMARKS.md section."""
    chunked_only = all(r["corpus"].endswith("(--chunk)") for r in result["corpora"])
    title = ("## Throughput of a chunked run (`--chunk`) vs plain encode of its chunks"
             if chunked_only else "## Throughput: the embed job vs plain `SentenceTransformer.encode`")
    corpora = " --corpora chunked --backends torch/none" if chunked_only else " --corpora docs,sentences"
    lines = [title, "",
             f"Machine: {result['machine']}; {result['note']}. "
             f"Command: `python bench/throughput.py --docs {result['docs']}{corpora}` "
             "(part of `make bench`). Model all-MiniLM-L6-v2, max_seq_length 256, default job "
             "settings (one actor, its torch / runtime threads = the CPUs it was given).", "",
             f"fp32 GEMM (torch, 2048x2048): {result['gflops_fp32']} GFLOP/s; the 'share of limit' "
             "column divides tokens/s by that rate over the model's forward FLOPs per token "
             "(dense layers + attention at the corpus' mean length). Ray's start-up "
             f"({result['ray_start_s']} s, with a 32-row warm-up job that starts its worker "
             "processes) is not in the job times; model load per backend "
             f"(export cached): {', '.join(f'{k} {v} s' for k, v in result['load_s'].items())}.", ""]
    for row in result["corpora"]:
        plain_s = sum(row["plain_s"]) / len(row["plain_s"])
        chunks = (f"{row['texts']:,} chunks of {row['documents']:,} documents (docs/s counts "
                  "chunks); " if row.get("documents", row["texts"]) != row["texts"] else "")
        lines += [f"**{row['corpus']}**: {chunks}{row['tokens']:,} tokens (mean {row['mean_tokens']}); "
                  f"plain encode {' / '.join(f'{p} s' for p in row['plain_s'])} (before / after the "
                  f"jobs); fp32 limit {row['limit_tokens_per_s']:,} tokens/s.", "",
                  "| run | seconds | docs/s | tokens/s | share of fp32 limit | job / plain |",
                  "|---|---:|---:|---:|---:|---:|",
                  _row("plain encode (torch fp32, batch 32)", plain_s, row, plain_s),
                  _row("embedder's encoder alone, in process (torch fp32; no Ray, model loaded)",
                       row["encoder_s"], row, plain_s)]
        for backend, summary in row["jobs"].items():
            lines.append(_row(f"job, {backend}", summary["seconds"], row, plain_s))
        lines.append("")
    return "\n".join(lines)


def _row(label: str, seconds: float, row: dict, plain_s: float) -> str:
    tokens_per_s = row["tokens"] / seconds
    return (f"| {label} | {seconds:.1f} | {row['texts'] / seconds:,.1f} | {tokens_per_s:,.0f} | "
            f"{100 * tokens_per_s / row['limit_tokens_per_s']:.0f}% | {plain_s / seconds:.2f}x |")


def main() -> None:
    """Measure, write docs/bench/throughput.json, print the markdown section."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=2000, help="SciFact documents (>= 2000)")
    parser.add_argument("--sentences", type=int, help="STS sentences (default: all 2,758)")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="backend/quantize pairs for the job runs")
    parser.add_argument("--corpora", default=",".join(CORPORA),
                        help=f"which rows to measure, of {', '.join(CORPORA)}")
    parser.add_argument("--out", default=str(BENCH_DIR / "throughput.json"))
    args = parser.parse_args()
    result = measure(args.docs, args.sentences, [b.strip() for b in args.backends.split(",") if b.strip()],
                     [c.strip() for c in args.corpora.split(",") if c.strip()])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(markdown(result))


if __name__ == "__main__":
    main()
