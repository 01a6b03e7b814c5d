"""Drive the fault-injection encoders from a test: set their delay, watch their calls and loads."""

from __future__ import annotations

import json
from pathlib import Path


class FaultControl:
    """The folder SlowRecording (tests/fault_encoders.py) reads its delay from and reports into."""

    model = "python:tests.support.fault_encoders:slow_recording"

    def __init__(self, folder: Path):
        self.folder = folder

    def reset(self) -> None:
        """Forget earlier calls and loads; no delay."""
        for path in self.folder.iterdir():
            path.unlink(missing_ok=True)  # a late writer may replace it meanwhile

    def set_delay(self, seconds: float) -> None:
        """Seconds each encoder call sleeps from now on."""
        (self.folder / "delay").write_text(str(seconds))

    def set_dim(self, dim: int) -> None:
        """The dimension the `sized_by_file` encoder loads with from now on."""
        (self.folder / "dim").write_text(str(dim))

    def calls(self) -> list[int]:
        """The pid of the actor behind each encoder call so far, in order."""
        path = self.folder / "calls"
        return [int(line) for line in path.read_text().split()] if path.exists() else []

    def loads(self) -> list[dict]:
        """One record per model load: pid, node id, GPU ids, device."""
        return [json.loads(p.read_text()) for p in sorted(self.folder.glob("load-*.json"))]
