"""The run summary: counts that must add up, and speed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class RunSummary:
    """What one embed run did; printed, returned as JSON, and stored in the runs table."""

    table: str
    run_id: str
    mode: str
    version: int | None = None
    read: int = 0
    embedded: int = 0
    rejected: int = 0
    skipped_unchanged: int = 0
    resumed: int = 0  # rows a dead run had embedded and written, reused by this one
    resumed_from: str | None = None  # the staging area (first run id) this run resumed
    updated: int = 0  # rows of the table replaced (incremental runs)
    inserted: int = 0  # rows added to the table
    deleted: int = 0  # rows removed because their ids left the source (--delete-missing)
    chunks: int | None = None  # chunked runs: chunk rows written (the counts above are documents)
    truncation: dict | None = None  # documents over the model's window, tokens dropped (plan.py)
    seconds: float = 0.0
    tokens: int = 0
    actors: dict[str, int] = field(default_factory=dict)
    index: str = "none"  # what happened to the ANN index after the commit
    status: str = "succeeded"
    error: str | None = None

    @property
    def rows_per_s(self) -> float:
        """Embedded rows per wall-clock second of the whole run."""
        return self.embedded / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_s(self) -> float:
        """Model tokens per wall-clock second of the whole run."""
        return self.tokens / self.seconds if self.seconds else 0.0

    def balanced(self) -> bool:
        """Every row read was embedded (now or by the run resumed), skipped as unchanged, or rejected."""
        return self.read == self.embedded + self.resumed + self.skipped_unchanged + self.rejected

    def to_dict(self) -> dict:
        """The summary as plain data, speeds included."""
        data = asdict(self)
        data["rows_per_s"] = round(self.rows_per_s, 2)
        data["tokens_per_s"] = round(self.tokens_per_s, 2)
        data["seconds"] = round(self.seconds, 3)
        return data

    def to_json(self) -> str:
        """The summary as one JSON object."""
        return json.dumps(self.to_dict())

    def line(self) -> str:
        """One human line: what happened and how fast."""
        changes = (f" [updated {self.updated}, inserted {self.inserted}, deleted {self.deleted}]"
                   if self.mode == "incremental" else "")
        return (f"{self.table} v{self.version} ({self.mode}): read {self.read} = embedded "
                f"{self.embedded}" + (f" + resumed {self.resumed}" if self.resumed else "")
                + f" + skipped {self.skipped_unchanged} + rejected {self.rejected}"
                f"{changes}" + (f", {self.chunks} chunks written" if self.chunks is not None else "")
                + f" in {self.seconds:.1f}s ({self.rows_per_s:.1f} rows/s,"
                f" {self.tokens_per_s:.0f} tokens/s, {len(self.actors)} actor(s))"
                + (f"; warning: index {self.index}" if self.index.startswith("failed") else "")
                + (f"; {truncation_line(self.truncation)}" if self.truncation else ""))


def truncation_line(report: dict) -> str:
    """The truncation report (plan.Truncation.to_dict) in words."""
    if not report["documents_over_window"]:
        return "no document longer than the model's window"
    over = (f"{report['documents_over_window']:,} of {report['documents']:,} documents longer "
            "than the model's window")
    if report.get("chunked"):
        past = report.get("tokens_past_window")
        return (f"{over} (chunked: no token dropped; truncation would drop "
                f"{past:,} of {report['tokens_in_documents']:,})" if past is not None
                else f"{over} (chunked: no token dropped)")
    return (f"{over}: {report['tokens_dropped']:,} tokens "
            f"({report['share_of_tokens_dropped']:.1%}) never embedded")
