"""Tiny random BERT models built on the fly, so tests never download anything and run in seconds.

Their vectors carry no meaning; tests that need real semantics use the bundled MiniLM instead.
"""

from __future__ import annotations

import string
from pathlib import Path

# What every API and CLI test runs with besides the tiny embedder and its own data dir (settings_env sets
# them as QUARRY_ variables; tests/service/live_server.py passes them to Settings).
TEST_SETTINGS = {"reranker": "none", "device": "cpu", "chunk_size": 64, "chunk_overlap": 8}

_WORDS = (
    "the a an of to and in is it for on with as by at from this that be are was or not how what when "
    "where why who which do does can you your we our they bread flour water tire bike chain coffee tea "
    "planet sun moon star git commit python file plant burn doc document search index text alpha beta "
    "gamma delta apple banana cherry red green blue fast slow cat dog house"
).split()


def _write_vocab(directory: Path) -> Path:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    pieces = ["##" + c for c in string.ascii_lowercase + string.digits]
    vocab = list(dict.fromkeys(specials + chars + pieces + _WORDS))
    path = directory / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n")
    return path


def _tokenizer(directory: Path):
    from transformers import BertTokenizerFast

    return BertTokenizerFast(vocab_file=str(_write_vocab(directory)), do_lower_case=True)


def _config(vocab_size: int, **extra):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        **extra,
    )


def build_tiny_embedder(directory: Path, max_seq_length: int = 128) -> Path:
    """A sentence-transformers directory: 2-layer BERT + mean pooling + normalize, 32 dimensions."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertModel

    torch.manual_seed(0)
    backbone = directory / "backbone"
    backbone.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(backbone)
    BertModel(_config(len(tokenizer))).save_pretrained(backbone)
    tokenizer.save_pretrained(backbone)
    transformer = models.Transformer(str(backbone), max_seq_length=max_seq_length)
    pooling = models.Pooling(transformer.get_embedding_dimension() if hasattr(transformer, "get_embedding_dimension") else transformer.get_word_embedding_dimension(), "mean")
    model = SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu")
    out = directory / "embedder"
    model.save(str(out))
    return out


def build_tiny_cross_encoder(directory: Path) -> Path:
    """A CrossEncoder directory: 2-layer BERT with a one-logit head."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    out = directory / "reranker"
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(out)
    BertForSequenceClassification(_config(len(tokenizer), num_labels=1)).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
