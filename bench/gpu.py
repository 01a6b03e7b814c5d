"""GPU throughput in fp16: plain `SentenceTransformer.encode` vs the embedder's encoder, same run.

Run by bench/gpu.sh (which samples GPU utilization with nvidia-smi into --util). Measures
sentences/s on the STS-B test sentences and on SciFact documents for several batch sizes:
plain encode (model.half(), batch_size rows) and embedfleet's SentenceTransformerEncoder on
CUDA (fp16, the whole batch tokenized once, length-sorted micro-batches capped by tokens).
With Ray and LanceDB importable it also times the whole embed job on one GPU actor.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def utilization(path: Path | None, start: float, end: float) -> float | None:
    """Mean GPU utilization % of the nvidia-smi samples taken between two wall-clock times."""
    if path is None or not path.exists():
        return None
    values = []
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.split(",")]
        try:
            stamp = datetime.strptime(cells[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
            value = float(cells[1].split()[0])
        except (ValueError, IndexError):
            continue
        if start <= stamp <= end:
            values.append(value)
    return round(sum(values) / len(values), 1) if values else None


def timed(fn, util: Path | None) -> tuple[float, float | None]:
    """Seconds of one call (CUDA synchronized) and the mean utilization meanwhile."""
    import torch

    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    start_wall, start = time.time(), time.perf_counter()
    fn()
    sync()
    seconds = time.perf_counter() - start
    time.sleep(0.5)  # let nvidia-smi write the samples of this window
    return seconds, utilization(util, start_wall, time.time() - 0.5)


def job_rate(texts: list[str], batch_size: int) -> float | None:
    """Rows/s of the whole embed job on one GPU actor, or None without Ray and LanceDB."""
    try:
        import lancedb  # noqa: F401
        import ray  # noqa: F401

        from jobs.ray_connect import connect_ray
    except ImportError:
        return None
    import tempfile

    from jobs.config import build_config
    from jobs.embed.run import run_embed

    with tempfile.TemporaryDirectory() as root:
        source = Path(root) / "c.jsonl"
        source.write_text("".join(json.dumps({"id": f"r{i}", "text": t}) + "\n"
                                  for i, t in enumerate(texts)))
        connect_ray()
        summary = run_embed(build_config({"table": "gpu", "db": f"{root}/db", "paths": [str(source)],
                                          "gpus_per_actor": 1, "batch_size": batch_size}))
    return summary.rows_per_s


def main() -> None:
    """Measure, print the markdown section, write gpu.json and gpu.md."""
    import torch
    from sentence_transformers import SentenceTransformer

    from actors.config import EncoderOptions, ModelConfig
    from actors.encoders import load_encoder
    from actors.encoders.models import resolve_model_source
    from jobs.eval.data import default_path, read_retrieval, read_sts

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--util", type=Path, help="nvidia-smi CSV of timestamp, utilization")
    parser.add_argument("--batch-sizes", default="32,128,512")
    parser.add_argument("--docs", type=int, default=5183)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "bench")
    parser.add_argument("--sentences", type=int, help="STS sentences (default: all 2,758)")
    parser.add_argument("--device", default="cuda", help="cpu only to check the script itself")
    parser.add_argument("--no-job", action="store_true", help="skip the whole-job figure")
    args = parser.parse_args()
    sts = read_sts(default_path("stsbenchmark", "sts-test.csv"))
    corpora = {"STS-B test sentences": (sts.first + sts.second)[:args.sentences],
               "SciFact docs": read_retrieval(default_path("scifact")).doc_texts[:args.docs]}
    plain = SentenceTransformer(resolve_model_source("all-MiniLM-L6-v2"), device=args.device)
    if args.device.startswith("cuda"):
        plain.half()
    ours = load_encoder(EncoderOptions(ModelConfig(), device=args.device))
    plain.encode(corpora["STS-B test sentences"][:512], batch_size=128)  # CUDA context, kernels
    ours.embed(corpora["STS-B test sentences"][:512])
    rows = []
    for label, texts in corpora.items():
        for batch in [int(b) for b in args.batch_sizes.split(",")]:
            seconds, util = timed(lambda t=texts, b=batch: plain.encode(t, batch_size=b), args.util)
            rows.append({"corpus": label, "run": f"plain encode fp16, batch {batch}",
                         "sentences_per_s": round(len(texts) / seconds), "gpu_util": util})
            ours.max_batch_rows = batch
            seconds, util = timed(lambda t=texts: ours.embed(t), args.util)
            rows.append({"corpus": label, "run": f"embedder fp16, {ours.max_batch_tokens} tokens / "
                         f"{batch} rows per call", "sentences_per_s": round(len(texts) / seconds),
                         "gpu_util": util})
        rate = None if args.no_job else job_rate(texts, 1024)
        if rate:
            rows.append({"corpus": label, "run": "whole embed job, 1 GPU actor, batch 1024",
                         "sentences_per_s": round(rate), "gpu_util": None})
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else args.device
    result = {"gpu": gpu, "host": platform.node(), "cpus": os.cpu_count(),
              "torch": torch.__version__, "rows": rows}
    lines = ["## GPU", "", f"GPU: {result['gpu']} ({result['cpus']} CPUs, torch {result['torch']}). "
             "Command: `bash bench/gpu.sh`. all-MiniLM-L6-v2 in fp16; the published anchor is "
             "14,200 sentences/s on a V100.", "",
             "| corpus | run | sentences/s | GPU util % |", "|---|---|---:|---:|"]
    lines += [f"| {r['corpus']} | {r['run']} | {r['sentences_per_s']:,} | "
              f"{'-' if r['gpu_util'] is None else r['gpu_util']} |" for r in rows]
    markdown = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu.json").write_text(json.dumps(result, indent=2))
    (args.out / "gpu.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
