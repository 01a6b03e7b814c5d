"""The run's configuration: frozen dataclasses built once from a YAML spec and CLI flags."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

DEFAULT_MODEL = "all-MiniLM-L6-v2"
FORMATS = ("auto", "parquet", "jsonl", "csv", "text")
# None (unset) means incremental when the table exists, create when it does not.
MODES = ("create", "append", "overwrite", "incremental", "rebuild")
BACKENDS = ("torch", "onnx", "openvino")
# What each backend may compute in besides fp32: int8 = ONNX Runtime dynamic quantization,
# bf16 = bfloat16 matmuls (torch autocast, OpenVINO's precision hint) on AMX / AVX-512 BF16 CPUs.
QUANTIZE = {"torch": ("none", "bf16"), "onnx": ("none", "int8"), "openvino": ("none", "bf16")}
INDEX_TYPES = ("ivf_pq", "hnsw")
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # it names a staging folder


class ConfigError(ValueError):
    """A setting is missing, malformed or contradicts another."""


@dataclass(frozen=True)
class ModelConfig:
    """Everything that decides what vector a text gets; recorded as table provenance."""

    model: str = DEFAULT_MODEL
    truncate_dim: int | None = None
    doc_prefix: str = ""
    query_prefix: str = ""
    max_seq_length: int | None = None
    backend: str = "torch"
    dtype: str = "float32"
    keep_full: bool = False  # also store the untruncated vector, for two-stage search
    quantize: str = "none"

    def __post_init__(self) -> None:
        if self.keep_full and self.truncate_dim is None:
            raise ConfigError("--keep-full needs --truncate-dim (without it the vector is full)")
        if self.truncate_dim is not None and self.truncate_dim <= 0:
            raise ConfigError(f"truncate_dim must be positive, got {self.truncate_dim}")
        if self.max_seq_length is not None and self.max_seq_length <= 0:
            raise ConfigError(f"max_seq_length must be positive, got {self.max_seq_length}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.quantize not in QUANTIZE[self.backend]:
            raise ConfigError(f"quantize {self.quantize!r} is not available with backend "
                              f"{self.backend!r} (choose from {', '.join(QUANTIZE[self.backend])})")
        if self.dtype not in ("float32", "float16"):
            raise ConfigError(f"dtype must be float32 or float16, got {self.dtype!r}")


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


@dataclass(frozen=True)
class EmbedConfig:
    """One embed run, end to end."""

    table: str
    db: str = field(default_factory=lambda: os.environ.get("EMBEDFLEET_DB", "./lancedb"))
    mode: str | None = None
    delete_missing: bool = False  # incremental: remove rows whose ids left the source
    source: SourceConfig = SourceConfig()
    model: ModelConfig = ModelConfig()
    compute: ComputeConfig = ComputeConfig()
    ray_address: str | None = None
    index_threshold: int = 100_000
    index_type: str = "ivf_pq"
    run_id: str | None = None  # set by a scheduler so its tick and the run share one id

    def __post_init__(self) -> None:
        if self.index_type not in INDEX_TYPES:
            raise ConfigError(f"index_type must be one of {INDEX_TYPES}, got {self.index_type!r}")
        if self.mode is not None and self.mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.delete_missing and self.mode not in (None, "incremental"):
            raise ConfigError(f"--delete-missing applies to incremental runs, not --mode {self.mode} "
                              "(overwrite and rebuild keep only the source's rows anyway)")
        if not self.source.paths:
            raise ConfigError("no SOURCE given: name at least one file, directory or glob")
        if self.run_id is not None and not _RUN_ID.fullmatch(self.run_id):
            raise ConfigError(f"run id {self.run_id!r}: use 1-64 letters, digits, '.', '_' or '-'")


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


_SECTIONS = {"source": SourceConfig, "model": ModelConfig, "compute": ComputeConfig}


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
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS and isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def build_config(settings: dict[str, Any]) -> EmbedConfig:
    """Turn flat settings (spec merged with flags; None means unset) into an EmbedConfig."""
    settings = {k.replace("-", "_"): v for k, v in settings.items() if v is not None}
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


def with_overrides(config: EmbedConfig, **changes: Any) -> EmbedConfig:
    """A copy of the config with top-level fields replaced."""
    return replace(config, **changes)
