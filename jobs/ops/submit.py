"""Submit the embed job to a Ray cluster through its job API, and follow it to the end.

The job runs `python -m jobs.embed --settings JSON` with this project as its working dir, so
every node imports `jobs`, `actors` and `storage` without an install step.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

from jobs.config import EmbedConfig, build_config, load_spec

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ADDRESS = "http://127.0.0.1:8265"
# Never uploaded: environments, tables, caches (Ray also skips .git and .venv by default).
EXCLUDES = [".venv", ".git", "lancedb", "**/*.lance", "**/__pycache__", ".pytest_cache",
            ".ruff_cache", "*.egg-info", "node_modules"]
# The job's own environment: quiet tokenizers, no model hub calls from the workers.
JOB_ENV = {"TOKENIZERS_PARALLELISM": "false"}
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def default_address() -> str:
    """The job API address: $RAY_API_SERVER_ADDRESS, else the local dashboard."""
    return os.environ.get("RAY_API_SERVER_ADDRESS") or DEFAULT_ADDRESS


def job_config(spec: str, overrides: dict | None = None, cwd: str | None = None,
               submitted: bool = True) -> EmbedConfig:
    """The spec's config, checked, with local relative paths made absolute.

    Absolute paths let a job on a local cluster find the corpus and the database from its own
    working dir; on a remote cluster the paths must be ones the cluster sees (s3://, NFS...).
    """
    settings = load_spec(spec)
    settings.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if submitted:
        settings.pop("ray_address", None)  # a submitted job joins the cluster it runs on
    config = build_config(settings)  # a bad spec fails here, not minutes later on the cluster
    base = cwd or os.getcwd()
    source = replace(config.source, paths=tuple(_absolute(p, base) for p in config.source.paths))
    return replace(config, db=_absolute(config.db, base), source=source)


def _absolute(path: str, base: str) -> str:
    if "://" in path:
        return path
    return os.path.normpath(os.path.join(base, os.path.expanduser(path)))


def entrypoint(settings: dict, run_id: str | None = None) -> str:
    """The job's shell command: `python -m jobs.embed` with the settings as JSON (a config's to_dict)."""
    command = f"python -m jobs.embed --settings {shlex.quote(json.dumps(settings))}"
    return command + (f" --run-id {shlex.quote(run_id)}" if run_id else "")


def runtime_env() -> dict:
    """This project as the working dir (a source checkout) or as modules (an installed copy)."""
    if (PROJECT_ROOT / "pyproject.toml").exists():
        return {"working_dir": str(PROJECT_ROOT), "excludes": EXCLUDES, "env_vars": JOB_ENV}
    return {"py_modules": [str(PROJECT_ROOT / p) for p in ("jobs", "actors", "storage")],
            "env_vars": JOB_ENV}


def is_loopback(address: str) -> bool:
    """True for http://127.0.0.1:8265, localhost and the like."""
    host = urlparse(address if "://" in address else f"http://{address}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def client_for(address: str):
    """A JobSubmissionClient; on a loopback address the local Ray auth token is sent if present."""
    from ray.job_submission import JobSubmissionClient

    if is_loopback(address) and "RAY_AUTH_MODE" not in os.environ:
        # A local cluster (or a port-forward) started with token auth on: use the token the
        # way `ray.init()` does for a local cluster. Remote addresses need RAY_AUTH_MODE=token.
        from jobs.ray_internals import use_local_auth_token

        use_local_auth_token()
    return JobSubmissionClient(address)


def submit(client, config: EmbedConfig, run_id: str | None = None) -> str:
    """Submit the embed job of this config; return its submission id."""
    table = config.table
    submission_id = f"embedfleet-{table}-{run_id}" if run_id else None
    return client.submit_job(entrypoint=entrypoint(config.to_dict(), run_id), runtime_env=runtime_env(),
                             submission_id=submission_id,
                             metadata={"embedfleet_table": table, "run_id": run_id or ""})


def follow(client, job_id: str, out=sys.stdout, poll_s: float = 1.0) -> str:
    """Stream the job's logs until it ends; return its final status."""

    async def tail() -> None:
        async for lines in client.tail_job_logs(job_id):
            out.write(lines)
            out.flush()

    try:
        asyncio.run(tail())
    except Exception as exc:  # noqa: BLE001 - a dropped log stream must not lose the status
        print(f"embedfleet: log stream ended early ({exc}); waiting for the job", file=sys.stderr)
    while True:
        status = str(client.get_job_status(job_id))
        if status.split(".")[-1] in TERMINAL:
            return status.split(".")[-1]
        time.sleep(poll_s)


def running_jobs(client, table: str) -> list[str]:
    """Submission ids of this table's embed jobs that have not ended (any submitter)."""
    ids = []
    for job in client.list_jobs():
        status = str(job.status).split(".")[-1]
        if (job.metadata or {}).get("embedfleet_table") == table and status not in TERMINAL:
            ids.append(job.submission_id or job.job_id)
    return ids
