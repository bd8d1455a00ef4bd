"""squeezerag indexer: corpus -> passages -> embeddings -> FAISS index + fp16 memory store (offline).

```python
from indexer import build_index, BuildConfig, Index
index = build_index("corpus.jsonl", "out/index", config=BuildConfig(memory_encodings=("pooled", "segments:8")))
hits = Index.load("out/index").search("who wrote Hamlet?", k=5)
```
"""

from __future__ import annotations

from indexer.build import BuildConfig, build_index
from indexer.chunking import Chunker, Passage
from indexer.corpus import CorpusReader, Document, FieldNames, read_corpus
from indexer.embedder import PROBE_TEXT, Embedder, load_embedder
from indexer.hit import Hit
from indexer.index import Index
from indexer.manifest import FORMAT_NAME, FORMAT_VERSION, Manifest
from indexer.memory import MemoryEncoding, parse_encoding

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PROBE_TEXT",
    "BuildConfig",
    "Chunker",
    "CorpusReader",
    "Document",
    "Embedder",
    "FieldNames",
    "Hit",
    "Index",
    "Manifest",
    "MemoryEncoding",
    "Passage",
    "build_index",
    "load_embedder",
    "parse_encoding",
    "read_corpus",
]
