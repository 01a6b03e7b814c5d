"""What the planning pass decided, in counts: the driver holds no value per row."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa


@dataclass(frozen=True)
class Truncation:
    """What the model's window does to the corpus: documents over it and tokens it drops."""

    documents: int = 0
    tokens: int = 0  # in all valid documents, prefix and special tokens included
    over_window: int = 0
    tokens_past_window: int = 0
    chunked: bool = False  # a chunked run embeds the tokens past the window too

    @classmethod
    def of(cls, blocks: list[dict], chunked: bool) -> Truncation | None:
        """Summed over the planning pass's blocks; None when the tokens were not counted."""
        if not blocks or any(b["tokens"] < 0 for b in blocks):
            return None
        return cls(*(sum(b[k] for b in blocks) for k in ("documents", "tokens", "over_window",
                                                           "tokens_past_window")), chunked)

    @property
    def dropped(self) -> int:
        """Tokens that never reach the model."""
        return 0 if self.chunked else self.tokens_past_window

    @property
    def dropped_share(self) -> float:
        """Dropped tokens as a share of all tokens."""
        return self.dropped / self.tokens if self.tokens else 0.0

    def to_dict(self) -> dict:
        """The report as the summary and the runs table keep it."""
        return {"documents_over_window": self.over_window, "documents": self.documents,
                "tokens_in_documents": self.tokens, "tokens_past_window": self.tokens_past_window,
                "tokens_dropped": self.dropped,
                "share_of_tokens_dropped": round(self.dropped_share, 4), "chunked": self.chunked}


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
    truncation: Truncation | None = None  # None: the model's tokens were not counted

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
