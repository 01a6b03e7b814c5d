"""Run modes: which one applies to a table, and what each refuses before any work starts."""

from __future__ import annotations

import pyarrow as pa

from actors.config import ModelConfig, model_config_of
from jobs.config import EmbedConfig
from jobs.errors import RunError
from storage.db import dataset_or_none, db_path
from storage.provenance import Provenance, config_differences, provenance_of


def resolve_mode(requested: str | None, exists: bool) -> str:
    """Unset: incremental on an existing table, else create (incremental or rebuild of none creates)."""
    if requested is None or requested == "incremental":
        return "incremental" if exists else "create"
    if requested == "rebuild" and not exists:
        return "create"
    return requested


def check_mode(config: EmbedConfig) -> tuple[str, int | None, pa.Schema | None]:
    """Refuse what the mode forbids; return the mode, and the version and schema it builds on."""
    dataset = dataset_or_none(config.db, config.table)
    mode = resolve_mode(config.mode, dataset is not None)
    where = f"{config.table!r} in {db_path(config.db)}"
    if mode == "create" and dataset is not None:
        raise RunError(f"table {where} already exists (version {dataset.version}, "
                       f"{dataset.count_rows()} rows); leave --mode unset for an incremental run, "
                       "or use --mode append, overwrite or rebuild")
    if mode == "append" and dataset is None:
        raise RunError(f"table {where} does not exist; use --mode create")
    if mode in ("append", "incremental"):
        differences = vector_differences(provenance_of(dataset.schema), config.model)
        if differences:
            verb = "append to" if mode == "append" else "update"
            raise RunError(f"cannot {verb} {where}: its vectors were made differently "
                           f"({'; '.join(differences)}); mixing them would make search "
                           "meaningless: use --mode rebuild to re-embed every row with the new "
                           "settings (the current version stays restorable)")
    if dataset is None:
        return mode, None, None
    return mode, dataset.version, dataset.schema


def vector_differences(existing: Provenance | None, wanted: ModelConfig) -> list[str]:
    """Vector-deciding settings that differ between a table's vectors and this run's."""
    if existing is None:
        return ["the table has no embedfleet provenance"]
    return config_differences(model_config_of(existing), wanted)
