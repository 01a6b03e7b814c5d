"""How a scheduled run starts: as a Ray job on a cluster, or as a local subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from jobs.config import EmbedConfig
from jobs.ops.submit import PROJECT_ROOT, TERMINAL, client_for, running_jobs, submit


class JobRun:
    """A run submitted through the Ray job API."""

    def __init__(self, client, config: EmbedConfig, run_id: str):
        self.client, self.run_id, self.message = client, run_id, ""
        self.job_id = submit(client, config, run_id)

    def poll(self) -> str | None:
        status = str(self.client.get_job_status(self.job_id)).split(".")[-1]
        if status not in TERMINAL:
            return None
        if status != "SUCCEEDED":
            info = self.client.get_job_info(self.job_id)
            self.message = f"job {self.job_id} {status}: {(info.message or '').strip()[:500]}"
        return "succeeded" if status == "SUCCEEDED" else "failed"


class ProcessRun:
    """A run as `python -m jobs.embed` on this machine (it starts or joins a local Ray)."""

    def __init__(self, config: EmbedConfig, run_id: str):
        self.run_id, self.message = run_id, ""
        self._stderr = tempfile.TemporaryFile()
        command = [sys.executable, "-m", "jobs.embed", "--settings", json.dumps(config.to_dict()),
                   "--run-id", run_id]
        cwd = PROJECT_ROOT if (PROJECT_ROOT / "pyproject.toml").exists() else Path.cwd()
        self._process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL,
                                         stderr=self._stderr)

    def poll(self) -> str | None:
        code = self._process.poll()
        if code is None:
            return None
        self._stderr.seek(0)
        tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()[-3:]
        self._stderr.close()
        sys.stderr.write("\n".join(tail) + ("\n" if tail else ""))
        if code != 0:
            self.message = f"exit code {code}: {' | '.join(tail)[:500]}"
        return "succeeded" if code == 0 else "failed"


def launcher(config: EmbedConfig, address: str | None):
    """(start, running_elsewhere) for the scheduler: Ray jobs with an address, else subprocesses."""
    if address is None:
        return (lambda run_id: ProcessRun(config, run_id)), list
    client = client_for(address)
    return ((lambda run_id: JobRun(client, config, run_id)),
            (lambda: running_jobs(client, config.table)))
