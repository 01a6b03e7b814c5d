"""The run's configuration: frozen dataclasses built once from a YAML spec and CLI flags."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from actors.config import ModelConfig
from storage.defaults import DEFAULT_INDEX_KIND, INDEX_KINDS, default_db
from storage.errors import ConfigError

FORMATS = ("auto", "parquet", "jsonl", "csv", "text")
# None (unset) means incremental when the table exists, create when it does not.
MODES = ("create", "append", "overwrite", "incremental", "rebuild")
DEFAULT_MAX_CHUNKS = 256  # ~65k tokens with a 256-token window: a long paper, not a book
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # it names a staging folder


@dataclass(frozen=True)
class SourceConfig:
    """Where the corpus is and which columns hold the id and the text."""

    paths: tuple[str, ...] = ()
    format: str = "auto"
    id_column: str = "id"
    text_column: str = "text"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"format must be one of {FORMATS}, got {self.format!r}")
        if self.id_column == self.text_column:
            raise ConfigError("id and text columns must differ")


@dataclass(frozen=True)
class ComputeConfig:
    """How the embedding stage is spread over the cluster."""

    min_actors: int = 1
    max_actors: int = 1
    gpus_per_actor: float | None = None  # None: 1 when the cluster has GPUs, else 0
    cpus_per_actor: float | None = None  # None: 1 with a GPU, else the CPUs shared out
    batch_size: int = 256
    max_batch_tokens: int | None = None  # None: a default for the device (actors/batching.py)
    write_batch_rows: int = 16384

    def __post_init__(self) -> None:
        if not 1 <= self.min_actors <= self.max_actors:
            raise ConfigError(f"actors must satisfy 1 <= min <= max, got {self.min_actors},{self.max_actors}")
        if self.gpus_per_actor is not None and self.gpus_per_actor < 0:
            raise ConfigError("gpus_per_actor must be >= 0")
        if self.cpus_per_actor is not None and self.cpus_per_actor <= 0:
            raise ConfigError("cpus_per_actor must be > 0")
        for name in ("batch_size", "max_batch_tokens", "write_batch_rows"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")


# The nested sections of an EmbedConfig, by the name of its field.
_SECTIONS = {"source": SourceConfig, "model": ModelConfig, "compute": ComputeConfig}


@dataclass(frozen=True)
class EmbedConfig:
    """One embed run, end to end."""

    table: str
    db: str = field(default_factory=default_db)
    mode: str | None = None
    delete_missing: bool = False  # incremental: remove rows whose ids left the source
    source: SourceConfig = SourceConfig()
    model: ModelConfig = ModelConfig()
    compute: ComputeConfig = ComputeConfig()
    ray_address: str | None = None
    index_threshold: int = 100_000
    index_type: str = DEFAULT_INDEX_KIND
    run_id: str | None = None  # set by a scheduler so its tick and the run share one id
    dry_run: bool = False  # plan, count tokens, estimate the time; commit nothing
    fresh: bool = False  # discard a dead run of this table instead of resuming it
    max_chunks: int = DEFAULT_MAX_CHUNKS  # chunked runs: a document giving more is rejected

    def __post_init__(self) -> None:
        if self.index_type not in INDEX_KINDS:
            raise ConfigError(f"index_type must be one of {INDEX_KINDS}, got {self.index_type!r}")
        if self.mode is not None and self.mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.delete_missing and self.mode not in (None, "incremental"):
            raise ConfigError(f"--delete-missing applies to incremental runs, not --mode {self.mode} "
                              "(overwrite and rebuild keep only the source's rows anyway)")
        if not self.source.paths:
            raise ConfigError("no SOURCE given: name at least one file, directory or glob")
        if self.max_chunks < 1:
            raise ConfigError(f"--max-chunks must be at least 1, got {self.max_chunks}")
        if self.run_id is not None and not _RUN_ID.fullmatch(self.run_id):
            raise ConfigError(f"run id {self.run_id!r}: use 1-64 letters, digits, '.', '_' or '-'")

    def to_dict(self) -> dict[str, Any]:
        """Every setting, sections nested ('source', 'model', 'compute'); from_dict reads it back."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = ({s.name: getattr(value, s.name) for s in fields(value)}
                           if f.name in _SECTIONS else value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmbedConfig:
        """The config to_dict (or its JSON) describes; unknown or missing keys are a ConfigError."""
        if not isinstance(data, dict):
            raise ConfigError(f"a config is a mapping of settings, not {type(data).__name__}")
        top = {k: _section_from_dict(k, v) if k in _SECTIONS else v for k, v in data.items()}
        _refuse_unknown(top, cls, "")
        if "table" not in top:
            raise ConfigError("no table name given (--table or 'table:' in the spec)")
        return cls(**top)


def _section_from_dict(name: str, value: Any):
    """One nested section; JSON lists become the tuples the section holds."""
    cls = _SECTIONS[name]
    if not isinstance(value, dict):
        raise ConfigError(f"setting {name!r} must be a mapping of {name} settings")
    _refuse_unknown(value, cls, f"{name}.")
    tuples = {f.name for f in fields(cls) if str(f.type).startswith("tuple")}
    for key in tuples & set(value):
        if not isinstance(value[key], list | tuple):
            raise ConfigError(f"setting '{name}.{key}' must be a list, got {value[key]!r}")
    return cls(**{k: tuple(v) if k in tuples else v for k, v in value.items()})


def _refuse_unknown(data: dict, cls: type, where: str) -> None:
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(where + k for k in unknown)}")


def parse_actors(value: str | int) -> tuple[int, int]:
    """'4' -> (4, 4); '2,8' -> (2, 8): a fixed or an autoscaling pool."""
    text = str(value).strip()
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError as exc:
        raise ConfigError(f"--actors takes N or MIN,MAX, got {text!r}") from exc
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ConfigError(f"--actors takes N or MIN,MAX, got {text!r}")


def flat_settings(data: dict[str, Any]) -> dict[str, Any]:
    """Settings with their sections (a spec's or to_dict's 'source:', 'model:', ...) flattened."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS and isinstance(value, dict):
            flat.update(value)
        elif key == "chunking":
            flat.update(_chunking_settings(value))
        else:
            flat[key] = value
    return flat


_CHUNKING_KEYS = {"tokens": "chunk_tokens", "overlap": "chunk_overlap", "max_chunks": "max_chunks",
                  "header": "chunk_header"}


def _chunking_settings(value: Any) -> dict[str, Any]:
    """A spec's `chunking:` (true/false, or a mapping of tokens, overlap, max_chunks) as settings."""
    if isinstance(value, bool):
        return {"chunk": value}
    if not isinstance(value, dict):
        raise ConfigError(f"'chunking' must be true, false or a mapping of {sorted(_CHUNKING_KEYS)}, "
                          f"got {value!r}")
    unknown = sorted(set(value) - set(_CHUNKING_KEYS))
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join('chunking.' + k for k in unknown)}")
    return {"chunk": True, **{_CHUNKING_KEYS[k]: v for k, v in value.items()}}


def load_spec(path: str | Path) -> dict[str, Any]:
    """Read a YAML spec into a flat dict of settings (sections may be nested or flat)."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"spec file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"spec file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"spec file {path} must hold a mapping of settings")
    return flat_settings(data)


def build_config(settings: dict[str, Any]) -> EmbedConfig:
    """Turn settings (spec merged with flags, flat or in sections; None means unset) into an EmbedConfig."""
    settings = {k.replace("-", "_"): v for k, v in flat_settings(settings).items() if v is not None}
    if "actors" in settings:
        settings["min_actors"], settings["max_actors"] = parse_actors(settings.pop("actors"))
    if "source" in settings and not isinstance(settings["source"], dict):
        settings["paths"] = settings.pop("source")
    if "paths" in settings:
        paths = settings["paths"]
        settings["paths"] = (paths,) if isinstance(paths, str) else tuple(str(p) for p in paths)
    sections = {}
    for name, cls in _SECTIONS.items():
        keys = {f.name for f in fields(cls)}
        sections[name] = cls(**{k: settings.pop(k) for k in list(settings) if k in keys})
    top = {f.name for f in fields(EmbedConfig)}
    unknown = sorted(set(settings) - top)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    if "table" not in settings:
        raise ConfigError("no table name given (--table or 'table:' in the spec)")
    return EmbedConfig(**settings, **sections)

