"""Shared fixtures: a tiny random sentence-transformers embedder, a tiny corpus and an index built from them.

Everything here is built from configs (no downloads) and is session-scoped, so the whole suite pays for it
once. Tests that modify an index must build their own (``build_tiny_index``), never touch ``tiny_index``.
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Tiny test models spend more time in OpenMP thread hand-offs than in arithmetic: one thread is several
# times faster for them (6x on a busy 2-core machine). Tests of real models use `torch_threads()`.
DEFAULT_TORCH_THREADS = torch.get_num_threads()
torch.set_num_threads(1)


@contextmanager
def _torch_threads(n: int | None = None) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(n or DEFAULT_TORCH_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def torch_threads() -> Callable[..., Any]:
    """``with torch_threads():`` runs a block with torch's default thread count (for real-size models)."""
    return _torch_threads


TINY_MAX_SEQ_LENGTH = 64
TINY_CHUNK_TOKENS = 32
TINY_CHUNK_OVERLAP = 8

_FACTS = [
    ("Zorblat Mountain", "Zorblat Mountain is the tallest peak on the island of Quenra, rising 4,812 metres."),
    ("Lake Vimmer", "Lake Vimmer freezes every winter and hosts the annual ice fishing festival of Dornholt."),
    ("Pellucid Owl", "The pellucid owl has transparent feathers and hunts only during lunar eclipses."),
    ("Harbor of Tesk", "The harbor of Tesk was built in 1742 by shipwrights from the city of Amberlane."),
    ("Grindle Cheese", "Grindle cheese is aged in copper caves for exactly nineteen months."),
    ("Orrin Vale", "Orrin Vale composed the Silver Tide symphony while living in a lighthouse."),
    ("Kessel Bridge", "Kessel Bridge spans the Mirrow river with seven arches of blue granite."),
    ("Fenwick Beetle", "The Fenwick beetle can lift three hundred times its own weight of sand."),
    ("Qarth Library", "The Qarth library holds twelve thousand scrolls written on dried kelp."),
    ("Tambor Festival", "The Tambor festival celebrates the first rain with drums made of gourds."),
    ("Velmora Tea", "Velmora tea is brewed from purple leaves that grow above the cloud line."),
    ("Isle of Brask", "The isle of Brask has no trees and is home to nine thousand puffins."),
    ("Ostrander Clock", "The Ostrander clock in Lumen square has chimed every hour since 1803."),
    ("Marrow Canal", "The Marrow canal links the salt marshes to the inland port of Gell."),
    ("Sable Fox", "The sable fox changes its coat from black to silver in late autumn."),
    ("Juniper Mine", "The Juniper mine produced most of the green opals found in Westmarch."),
    ("Corvin Academy", "Corvin academy teaches navigation by the stars to young sailors."),
    ("Dreller Wine", "Dreller wine is made from frost grapes harvested at midnight."),
    ("Yarrow Tower", "Yarrow tower leans four degrees because of a buried river beneath it."),
    ("Pim Language", "The Pim language has no word for blue and eleven words for green."),
    ("Halvard Glacier", "The Halvard glacier retreats about thirty metres every summer."),
    ("Nettle Railway", "The Nettle railway climbs to the mining town of Sorrow Peak in switchbacks."),
    ("Brindle Market", "Brindle market sells spices, lanterns and maps every Tuesday at dawn."),
    ("Quill Observatory", "The Quill observatory discovered the comet Halberd in the year 1911."),
    ("Ember Moss", "Ember moss glows faintly orange and grows only on volcanic basalt."),
    ("Tolland Dam", "The Tolland dam supplies electricity to forty villages in the valley."),
    ("Wren Orchestra", "The Wren orchestra plays only instruments carved from driftwood."),
    ("Gossamer Falls", "Gossamer falls drop two hundred metres into a turquoise pool."),
    ("Ashcombe Abbey", "Ashcombe abbey was founded by weavers who fled the northern floods."),
    ("Lumen Square", "Lumen square is paved with white stones taken from the old sea wall."),
]


def _vocab() -> list[str]:
    """A small WordPiece vocab: specials, every character (+ ``##`` forms) and the corpus' words."""
    chars = string.ascii_lowercase + string.digits + string.punctuation
    words = sorted({w.strip(string.punctuation).lower() for _, text in _FACTS for w in f"{_} {text}".split()}
                   - {""})
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars), *words]
    return list(dict.fromkeys(tokens))


def make_tiny_embedder(directory: Path, hidden: int = 32, seed: int = 0) -> Path:
    """Save a randomly initialised tiny BERT sentence-transformer (mean pooling + normalize) to ``directory``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    try:
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Normalize, Pooling, Transformer
    from sentence_transformers import SentenceTransformer

    hf_dir = directory / "hf"
    hf_dir.mkdir(parents=True, exist_ok=True)
    (hf_dir / "vocab.txt").write_text("\n".join(_vocab()) + "\n", encoding="utf-8")
    # from_pretrained on a folder with only vocab.txt builds the fast tokenizer in transformers 4 and 5 alike.
    BertTokenizerFast.from_pretrained(str(hf_dir), do_lower_case=True).save_pretrained(hf_dir)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(_vocab()), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=2 * hidden, max_position_embeddings=TINY_MAX_SEQ_LENGTH * 2)
    BertModel(config).save_pretrained(hf_dir)
    transformer = Transformer(str(hf_dir), max_seq_length=TINY_MAX_SEQ_LENGTH)
    model = SentenceTransformer(modules=[transformer, Pooling(hidden, "mean"), Normalize()], device="cpu")
    out = directory / "st"
    model.save(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_embedder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a tiny random BERT sentence-transformer (hidden 32, 2 layers, max_seq_length 64)."""
    return make_tiny_embedder(tmp_path_factory.mktemp("tiny-embedder"))


@pytest.fixture(scope="session")
def make_embedder() -> Callable[..., Path]:
    """``make_embedder(directory, hidden=32, seed=0) -> path``: another tiny random embedder (e.g. a mismatch)."""
    return make_tiny_embedder


@pytest.fixture(scope="session")
def tiny_config() -> Callable[..., Any]:
    """``tiny_config(**overrides) -> BuildConfig`` sized for the tiny embedder."""
    return tiny_build_config


@pytest.fixture(scope="session")
def tiny_embedder(tiny_embedder_dir: Path) -> Any:
    """The tiny embedder loaded once as an ``indexer.Embedder``."""
    from indexer import load_embedder

    return load_embedder(str(tiny_embedder_dir), device="cpu")


@pytest.fixture(scope="session")
def tiny_corpus_records() -> list[dict]:
    """30 records ``{id, title, text, topic}``, each with a distinctive made-up fact."""
    return [{"id": f"doc{i:02d}", "title": title, "text": text, "topic": "fiction"}
            for i, (title, text) in enumerate(_FACTS)]


def tiny_build_config(**overrides: Any) -> Any:
    """``BuildConfig`` sized for the tiny embedder (32-token passages, 8 overlap)."""
    from indexer import BuildConfig

    values = {"chunk_tokens": TINY_CHUNK_TOKENS, "chunk_overlap": TINY_CHUNK_OVERLAP, "batch_size": 16,
              "memory_encodings": ("pooled", "segments:4")}
    return BuildConfig(**{**values, **overrides})


@pytest.fixture(scope="session")
def build_tiny_index(tiny_embedder: Any) -> Callable[..., Any]:
    """Factory: ``build_tiny_index(corpus, out_dir, **config_overrides)`` with the tiny embedder."""
    from indexer import build_index

    def build(corpus: Any, out_dir: Path, skip_bad: bool = False, overwrite: bool = False,
              **overrides: Any) -> Any:
        return build_index(corpus, out_dir, embedder=tiny_embedder, config=tiny_build_config(**overrides),
                           overwrite=overwrite, progress=False, skip_bad=skip_bad)

    return build


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory: pytest.TempPathFactory, tiny_corpus_records: list[dict],
               build_tiny_index: Callable[..., Any]) -> Any:
    """A Flat index of ``tiny_corpus_records`` with memory ("pooled", "segments:4"). Read-only: do not add."""
    return build_tiny_index(tiny_corpus_records, tmp_path_factory.mktemp("tiny-index") / "index")
