"""Resumable runs: claim a dead run's staging area (or start one), reuse what it wrote.

Running the same command again resumes: a run finds the newest staging area of its table that
no live driver holds, checks it was made with the same model settings (another mode: the dead
run is discarded; other model settings: refused until --fresh), and reuses
every write record whose rows are all still wanted (same id, same content hash). Only rows
not already written reach the model, and the one commit publishes old and new fragments alike.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from jobs.embed.planning import Resumable
from jobs.errors import RunError
from storage.db import dataset_or_none, table_uri
from storage.names import companion
from storage.provenance import vector_settings
from storage.run_stage import (
    RunStage,
    StageLease,
    WriteRecord,
    fragment_files_exist,
    remove_fragment_files,
    unfinished_stages,
)
from storage.sink import WriteReport

log = logging.getLogger("embedfleet")


def claim_stage(run) -> tuple[RunStage, Resumable | None, StageLease]:
    """The staging area this run (run.OpenRun) writes to, what it may resume, and its lease."""
    config = run.config
    resumable = find_resumable(run)
    if resumable is not None:
        try:
            lease = StageLease(resumable.stage)
        except BlockingIOError:  # another run claimed it a moment ago
            resumable = None
        else:
            manifest = resumable.stage.manifest()
            manifest["runs"] = [*manifest.get("runs", []), run.run_id]
            resumable.stage.write_manifest(manifest)
            log.info("resuming %s: %d write record(s) of run(s) %s", config.table,
                     len(resumable.records), ", ".join(manifest["runs"][:-1]))
            return resumable.stage, resumable, lease
    stage = RunStage(config.db, config.table, run.run_id)
    lease = StageLease(stage)
    stage.write_manifest(new_manifest(run))
    return stage, None, lease


def new_manifest(run) -> dict:
    """What a later run checks before it resumes this one."""
    return {"stage": run.run_id, "table": run.config.table, "mode": run.mode,
            "settings": vector_settings(run.config.model), "runs": [run.run_id],
            "started": datetime.now(UTC).isoformat()}


def find_resumable(run, read_only: bool = False) -> Resumable | None:
    """The newest dead run of this table to resume, None if there is none; refuses a mismatch.

    read_only (a dry run): look, but discard nothing.
    """
    config = run.config
    for stage, manifest in unfinished_stages(config.db, config.table):
        if config.fresh and read_only:
            return None
        if config.fresh:
            log.info("discarding the unfinished run %s of %s (--fresh)", stage.stage_id, config.table)
            discard_stage(stage, run)
            continue
        if manifest.get("mode") != run.mode:  # another kind of run: its rows cannot be reused
            if not read_only:
                log.warning("discarding the unfinished %s run %s of %s: this run is %s",
                            manifest.get("mode"), stage.stage_id, config.table, run.mode)
                discard_stage(stage, run)
            continue
        problems = resume_problems(manifest, run)
        if problems:
            raise RunError(f"table {config.table!r} has an unfinished run "
                           f"{manifest.get('runs', ['?'])[-1]} made with other model settings "
                           f"({'; '.join(problems)}); run it again with those settings to resume "
                           "it, or add --fresh to discard it")
        try:
            records = stage.records()
        except OSError:  # another run removed it a moment ago
            continue
        if committed_already(run, records):
            if not read_only:
                stage.remove()  # a run that committed, then died before it could tidy up
            continue
        return Resumable(stage, records)
    return None


def resume_problems(manifest: dict, run) -> list[str]:
    """The model settings that differ between a dead run and this one, as 'name: a != b'."""
    wanted = vector_settings(run.config.model)
    had = manifest.get("settings", {})
    return [f"{name}: {had.get(name)!r} != {value!r}" for name, value in wanted.items()
            if _plain(had.get(name)) != _plain(value)]


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def committed_already(run, records: list[WriteRecord]) -> bool:
    """True if the table's current version holds a record's fragment files (the run committed)."""
    dataset = dataset_or_none(run.config.db, run.config.table)
    if dataset is None or not records:
        return False
    from lance.fragment import FragmentMetadata

    committed = {f.path for fragment in dataset.get_fragments() for f in fragment.data_files()}
    return any(d.path in committed for r in records for s in r.fragments
               for d in FragmentMetadata.from_json(s).data_files())


def fragments_uri(run, stage: RunStage) -> str:
    """Where this run's write tasks put table fragments: the private dataset or the table."""
    return stage.rows_uri if run.incremental else table_uri(run.config.db, run.config.table)


def settle_records(run, stage: RunStage, resumable: Resumable | None,
                   reused: list[WriteRecord]) -> list[WriteRecord]:
    """Keep the reused records whose files are all there; remove every other dead record's files."""
    if resumable is None:
        return []
    where = fragments_uri(run, stage)
    kept = [r for r in reused if fragment_files_exist(where, r.fragments)]
    discard(stage, [r for r in resumable.records if r not in kept], run)
    for record in kept:  # this run rejects those rows again, in its own fragments
        remove_fragment_files(_rejects_uri(run), record.reject_fragments)
    return kept


def discard_stage(stage: RunStage, run) -> None:
    """Remove a dead run's whole area and fragments, unless another run took it meanwhile."""
    try:
        lease = StageLease(stage)  # two runs may find the same dead area: one discards it
    except (BlockingIOError, FileNotFoundError):
        return
    try:
        discard(stage, stage.records(), run)
        stage.remove()
    except OSError:  # removed by a run that found it first and did not take the lock
        pass
    finally:
        lease.release()


def discard(stage: RunStage, records: list[WriteRecord], run) -> None:
    """Remove dead write records and the fragment files they name."""
    where = fragments_uri(run, stage)
    for record in records:
        remove_fragment_files(where, record.fragments)
        remove_fragment_files(_rejects_uri(run), record.reject_fragments)
        stage.remove_record(record.record)


def _rejects_uri(run) -> str:
    return table_uri(run.config.db, companion(run.config.table, "rejects"))


def with_reused(report: WriteReport, reused: list[WriteRecord]) -> WriteReport:
    """The run's write report plus the fragments it reuses from a dead run."""
    for record in reused:
        report.fragments += record.fragments
        report.dim = report.dim or record.dim
        report.native_dim = report.native_dim or record.native_dim
    return report
