"""The model's settings and the options an encoder is built with: typed, frozen, used by every layer."""

from __future__ import annotations

from dataclasses import dataclass

from storage.errors import ConfigError
from storage.provenance import Provenance, vector_field_names

DEFAULT_MODEL = "all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx", "openvino")
# What each backend may compute in besides fp32: int8 = ONNX Runtime dynamic quantization,
# bf16 = bfloat16 matmuls (torch autocast, OpenVINO's precision hint) on AMX / AVX-512 BF16 CPUs.
QUANTIZE = {"torch": ("none", "bf16"), "onnx": ("none", "int8"), "openvino": ("none", "bf16")}
QUANTIZE_CHOICES = tuple(dict.fromkeys(q for qs in QUANTIZE.values() for q in qs))  # for flags
DTYPES = ("float32", "float16")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that decides what vector a text gets (storage.provenance.VECTOR_FIELDS)."""

    model: str = DEFAULT_MODEL
    truncate_dim: int | None = None
    doc_prefix: str = ""
    query_prefix: str = ""
    max_seq_length: int | None = None
    backend: str = "torch"
    dtype: str = "float32"
    keep_full: bool = False  # also store the untruncated vector, for two-stage search
    quantize: str = "none"
    # Chunking: embed each document as token-bounded chunks instead of cutting it at the window.
    chunk: bool = False
    chunk_tokens: int | None = None  # None: as many as the window holds besides prefix and specials
    chunk_overlap: int | None = None  # None: a fifth of the chunk (actors/encoders/chunker.py)
    # A carried column (a title, say) whose value heads every chunk as it is embedded: a chunk
    # cut from the middle of a document still says what the document is about.
    chunk_header: str | None = None

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
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be float32 or float16, got {self.dtype!r}")
        self._check_chunking()

    def _check_chunking(self) -> None:
        """Chunk settings that cannot work whatever the model (the window is checked later)."""
        if not self.chunk and (self.chunk_tokens is not None or self.chunk_overlap is not None
                               or self.chunk_header is not None):
            raise ConfigError("--chunk-tokens, --chunk-overlap and --chunk-header need --chunk")
        if self.chunk_header in ("id", "text"):
            raise ConfigError(f"--chunk-header names a carried column (a title, say), not "
                              f"{self.chunk_header!r}")
        if self.chunk_tokens is not None and self.chunk_tokens <= 0:
            raise ConfigError(f"--chunk-tokens must be positive, got {self.chunk_tokens}")
        if self.chunk_overlap is not None and self.chunk_overlap < 0:
            raise ConfigError(f"--chunk-overlap must be >= 0, got {self.chunk_overlap}")
        if (self.chunk_tokens is not None and self.chunk_overlap is not None
                and self.chunk_overlap >= self.chunk_tokens):
            raise ConfigError(f"--chunk-overlap {self.chunk_overlap} must be smaller than "
                              f"--chunk-tokens {self.chunk_tokens}")

    def check_dim(self, native_dim: int) -> None:
        """Refuse a truncation longer than the model's vectors (it would silently do nothing)."""
        if self.truncate_dim is not None and self.truncate_dim > native_dim:
            raise ConfigError(f"--truncate-dim {self.truncate_dim} is larger than the dimension of "
                              f"model {self.model!r} ({native_dim}); use at most {native_dim}")


@dataclass(frozen=True)
class EncoderOptions:
    """How one process runs the model: the model's settings plus device, batching and threads."""

    model: ModelConfig = ModelConfig()
    device: str = "cpu"
    max_batch_tokens: int | None = None  # None: a default for the device (encoders/batching.py)
    max_batch_rows: int = 256
    threads: int | None = None  # CPU threads for the backend; None: the library's default


def model_config_of(provenance: Provenance) -> ModelConfig:
    """The ModelConfig a table's provenance records (settings it predates take their defaults)."""
    names = vector_field_names()
    return ModelConfig(**{k: v for k, v in provenance.settings.items() if k in names})
