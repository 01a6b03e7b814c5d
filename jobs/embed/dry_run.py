"""`--dry-run`: what a run would do and cost, from the planning pass and the tokenizer alone.

It reads every row, plans exactly as the run would (rejects, duplicates, the incremental diff),
counts the tokens each text would be embedded with, and times one short calibration batch on
the model to estimate the embedding time. It commits nothing and adds no version anywhere.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from actors.config import EncoderOptions, ModelConfig
from jobs.config import EmbedConfig
from jobs.embed.capacity import IO_TASK_CPUS
from jobs.embed.pool import encoder_options
from jobs.embed.progress import ProgressReporter, format_seconds
from storage.chunk_rows import model_input_column

CALIBRATION_TEXTS = 256
_REASON_KIND = re.compile(r"[A-Za-z][A-Za-z ,-]*[A-Za-z]")


@dataclass
class DryRun:
    """The figures of a run that did not happen; the time is an estimate, and says so."""

    table: str
    mode: str
    read: int = 0
    to_embed: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    resumed: int = 0
    to_delete: int = 0
    rejected: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    tokens: int | None = None  # None: a user's encoder, whose tokens only it knows
    over_window: int | None = None
    window: int | None = None
    chunks: int | None = None  # chunked runs: the chunks the documents to embed give
    calibration: dict = field(default_factory=dict)
    estimate_s: float | None = None

    def to_json(self) -> str:
        """The figures as one JSON object."""
        return json.dumps({"dry_run": True, **asdict(self)})

    def lines(self) -> list[str]:
        """What a person reads."""
        out = [f"dry run of {self.table} ({self.mode}): nothing was committed",
               f"  read {self.read:,} rows: {self.to_embed:,} to embed ({self.new:,} new, "
               f"{self.changed:,} changed), "
               + (f"{self.resumed:,} already written by a dead run (reused), " if self.resumed
                  else "")
               + f"{self.unchanged:,} unchanged, {self.rejected:,} "
               f"rejected, {self.to_delete:,} to delete"]
        out += [f"  rejected, {reason}: {count:,}" for reason, count in self.rejects_by_reason.items()]
        if self.tokens is not None:
            window = f"{self.window}-token window" if self.window else "no window"
            out.append(f"  {self.tokens:,} tokens to embed; {self.over_window:,} rows longer than "
                       f"the model's {window}")
        if self.chunks is not None:
            out.append(f"  {self.chunks:,} chunks to embed (--chunk: the counts above are documents, "
                       "the tokens are the chunks')")
        if self.estimate_s is not None:
            c = self.calibration
            out.append(f"  estimate: about {format_seconds(self.estimate_s)} to embed on "
                       f"{c['actors']} actor(s) (an estimate from a {c['texts']}-text calibration "
                       f"batch at {c['tokens_per_s']:,.0f} tokens/s per actor, model load "
                       f"{c['load_s']:.1f}s; not a measurement of the run)")
        return out


def reason_kind(reason: str) -> str:
    """A reject reason without its row's particulars: "duplicate id 'x' (first ...)" -> 'duplicate id'."""
    match = _REASON_KIND.match(reason)
    return match.group(0) if match else reason


def count_block(batch: pa.Table, model: ModelConfig) -> pa.Table:
    """One row per block: rows to embed, their tokens and window cuts, rejects by kind (JSON)."""
    from actors.encoders.tokens import token_counter

    rejected = pc.is_valid(batch.column("_reject"))
    reasons = Counter(reason_kind(r) for r in batch.column("_reject").filter(rejected).to_pylist())
    texts = batch.column(model_input_column(batch)).filter(pc.invert(rejected)).to_pylist()
    counter = token_counter(model)
    tokens = over = -1  # unknown without the model
    if counter is not None:
        counts = counter.count([model.doc_prefix + t for t in texts])
        tokens, over = int(counts.tokens.sum()), int(counts.over_window.sum())
    return pa.table({"rows": [len(texts)], "tokens": [tokens], "over_window": [over],
                     "rejects": [json.dumps(reasons)]})


class BlockCounter:
    """count_block in an actor that keeps its model's tokenizer between blocks."""

    def __init__(self, model: ModelConfig):
        from actors.encoders.tokens import token_counter

        self.model = model
        token_counter(model)  # load it now, once per actor

    def __call__(self, batch: pa.Table) -> pa.Table:
        return count_block(batch, self.model)


def embeddable_only(batch: pa.Table) -> pa.Table:
    """The rows of a prepared block that reach the model (id and what the model embeds)."""
    good = batch.filter(pc.is_null(batch.column("_reject")))
    return pa.table({"id": good.column("id"), "text": good.column(model_input_column(good))})


def calibrate(options: EncoderOptions, texts: list[str]) -> dict:
    """Load the model as an embedder actor does (same device choice) and time one batch."""
    from actors.embedder import Embedder

    start = time.perf_counter()
    encoder = Embedder(options).encoder
    load_s = time.perf_counter() - start
    encoder.embed_with_lengths(texts[:8])  # a warm-up call: first calls pay for lazy set-up
    start = time.perf_counter()
    _, lengths = encoder.embed_with_lengths(texts)
    seconds = max(time.perf_counter() - start, 1e-9)
    return {"texts": len(texts), "tokens_per_s": float(lengths.sum()) / seconds,
            "rows_per_s": len(texts) / seconds, "load_s": load_s}


def dry_run(config: EmbedConfig, progress: ProgressReporter | None = None) -> DryRun:
    """Plan the run, count its tokens, calibrate the model; commit nothing."""
    from jobs.embed.planning import plan_pass
    from jobs.embed.resume import find_resumable
    from jobs.embed.run import open_run, prepared_rows
    from storage.run_stage import RunStage

    progress = progress or ProgressReporter(enabled=False)
    run = open_run(config, progress)
    # Its own scratch area (no manifest: never taken for a dead run); a dead run is only read.
    work = RunStage(config.db, config.table, f"dryrun-{run.run_id}")
    try:
        plan, changes, _ = plan_pass(run, work, find_resumable(run, read_only=True))
        report = DryRun(table=config.table, mode=run.mode, read=plan.read,
                        to_embed=plan.to_embed, unchanged=plan.skipped, resumed=plan.resumed)
        report.new, report.changed = (plan.to_embed + plan.resumed, 0) if changes is None else (
            changes.to_insert, changes.to_update)
        report.to_delete = changes.to_delete if changes is not None else 0
        if plan.to_read_again:
            _count(report, prepared_rows(run, plan), config.model)
        if report.to_embed:
            _estimate(report, run, prepared_rows(run, plan))
    finally:
        work.remove()
    return report



def _count(report: DryRun, rows, model: ModelConfig) -> None:
    import ray

    # Counting actors, not tasks: each loads the tokenizer once (seconds), however many blocks;
    # the pool grows with the corpus up to half the cluster's CPUs.
    counters = max(1, int(ray.cluster_resources().get("CPU", 1)) // 2)
    blocks = rows.map_batches(BlockCounter, batch_format="pyarrow", batch_size=None,
                              num_cpus=IO_TASK_CPUS, concurrency=(1, counters),
                              fn_constructor_kwargs={"model": model}).take_all()
    reasons: Counter = Counter()
    for block in blocks:
        reasons.update(json.loads(block["rejects"]))
    report.rejected = sum(reasons.values())
    if model.chunk:
        report.chunks = sum(b["rows"] for b in blocks)
    report.rejects_by_reason = dict(reasons.most_common())
    if all(b["tokens"] >= 0 for b in blocks):
        from actors.encoders.tokens import token_counter

        report.tokens = sum(b["tokens"] for b in blocks)
        report.over_window = sum(b["over_window"] for b in blocks)
        report.window = getattr(token_counter(model), "window", None)


def _estimate(report: DryRun, run, rows) -> None:
    import ray

    sample = rows.map_batches(embeddable_only, batch_format="pyarrow", batch_size=None,
                              num_cpus=IO_TASK_CPUS).take(CALIBRATION_TEXTS)
    texts = [run.config.model.doc_prefix + r["text"] for r in sample]
    options = encoder_options(run.config, run.resources)
    task = ray.remote(calibrate).options(num_cpus=run.resources.cpus, num_gpus=run.resources.gpus)
    result = ray.get(task.remote(options, texts))
    actors = run.config.compute.max_actors
    if report.tokens is None:  # no tokenizer: scale the calibration batch's rate by rows instead
        seconds = report.to_embed / (result["rows_per_s"] * actors)
    else:
        seconds = report.tokens / (result["tokens_per_s"] * actors)
    report.calibration = {**result, "actors": actors}
    report.estimate_s = seconds + result["load_s"]
