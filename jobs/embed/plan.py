"""What the planning pass decided, in counts: the driver holds no value per row."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa


@dataclass(frozen=True)
class RowPlan:
    """The counts of a planned run, and where its per-row decisions lie (the run's staging area)."""

    read: int
    rejected_on_read: int
    duplicates: int = 0
    carried: pa.Schema = field(default_factory=lambda: pa.schema([]))
    skipped: int = 0  # rows the table already holds unchanged (incremental runs)
    resumed: int = 0  # rows a dead run already embedded and wrote; its fragments are reused
    decisions_uri: str | None = None
    reused_records: frozenset[str] = frozenset()

    @property
    def to_embed(self) -> int:
        """Rows that will reach the model."""
        return self.read - self.rejected_on_read - self.duplicates - self.skipped - self.resumed

    @property
    def needs_decisions(self) -> bool:
        """True if the embedding pass must look rows up in the plan (else every valid row embeds)."""
        return bool(self.duplicates or self.skipped or self.resumed)

    @property
    def to_read_again(self) -> int:
        """Rows the embedding pass sends on: to the model, or to the rejects table."""
        return self.read - self.skipped - self.resumed


def plan_line(plan: RowPlan, files: int, seconds: float) -> str:
    """The planning pass in one line, before the embedding pass starts."""
    rejected = plan.rejected_on_read + plan.duplicates
    resumed = f", {plan.resumed:,} resumed" if plan.resumed else ""
    return (f"planned in {seconds:.1f}s: read {plan.read:,} rows from {files:,} file(s); "
            f"{plan.to_embed:,} to embed, {plan.skipped:,} unchanged{resumed}, "
            f"{rejected:,} rejected")
