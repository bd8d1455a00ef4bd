"""The passage / query embedder: a thin wrapper around a ``SentenceTransformer``.

It adds what the index needs on top of ``SentenceTransformer.encode``: a canonical id for manifests, a probe
vector to recognise the same model later, the token budget for chunking, and
:meth:`Embedder.encode_with_memory`, which returns the retrieval embeddings *and* every memory encoding from
one forward pass per batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from indexer.memory import MemoryEncoding, parse_encoding, segment_pool

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

# Fixed text whose embedding is stored in the manifest; a query embedder must reproduce it (cosine >= 0.99).
PROBE_TEXT = "squeezerag probe: The quick brown fox jumps over the lazy dog near the river bank in 1999."
_DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")


class Embedder:
    """A loaded ``SentenceTransformer`` plus the metadata an index records about it.

    Args:
        model: the loaded model.
        id: canonical id stored in manifests (see ``rag.defaults.embedder_id``).
    """

    def __init__(self, model: SentenceTransformer, id: str) -> None:
        self.model = model
        self.id = id
        self._token_dim: int | None = None
        self._probe: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"Embedder(id={self.id!r}, dim={self.dim}, max_seq_length={self.max_seq_length})"

    @property
    def dim(self) -> int:
        """Dimension ``d`` of the sentence (retrieval) embedding."""
        # Renamed in sentence-transformers 6 (get_sentence_embedding_dimension before).
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = getter()
        return int(dim) if dim else int(self.probe_vector().shape[0])

    @property
    def token_dim(self) -> int:
        """Dimension of the last-layer token states (differs from :attr:`dim` after a Dense head)."""
        if self._token_dim is None:
            _, memory = self.forward_batch([PROBE_TEXT], [MemoryEncoding("segments", 1)])
            self._token_dim = int(memory["segments:1"].shape[2])
        return self._token_dim

    @property
    def max_seq_length(self) -> int:
        """Longest input (in tokens, special tokens included) the model reads without truncating."""
        value = self.model.max_seq_length or getattr(self.tokenizer, "model_max_length", 512)
        return int(min(value, 1_000_000))

    @property
    def tokenizer(self) -> Any:
        """The model's (fast) Hugging Face tokenizer (typed ``Any``: its base class moves between versions)."""
        return self.model.tokenizer

    @property
    def document_prompt(self) -> str:
        """Prompt the model prepends to documents (e.g. ``"passage: "``), ``""`` when none."""
        prompts = getattr(self.model, "prompts", None) or {}
        return next((prompts[name] for name in _DOCUMENT_PROMPT_NAMES if prompts.get(name)), "")

    @property
    def reserved_tokens(self) -> int:
        """Tokens of every document input not available to text: special tokens plus the document prompt."""
        with_special = len(self.tokenizer("x", add_special_tokens=True)["input_ids"])
        without = len(self.tokenizer("x", add_special_tokens=False)["input_ids"])
        prompt = self.document_prompt
        prompt_tokens = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"]) if prompt else 0
        return with_special - without + prompt_tokens

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed ``texts`` as they are (no prompt): ``(n, d)`` float32, L2-normalised."""
        return self._finish(self.model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                                              normalize_embeddings=True, convert_to_numpy=True))

    @property
    def query_prompt(self) -> str:
        """Prompt the model prepends to search queries (e.g. ``"query: "``), ``""`` when none."""
        prompts = getattr(self.model, "prompts", None) or {}
        return prompts.get("query") or ""

    def query_lengths(self, texts: Sequence[str]) -> list[int]:
        """Tokens :meth:`encode_queries` runs the model over for each text (prompt and special tokens included)."""
        prompt = self.query_prompt
        ids = self.tokenizer([prompt + t for t in texts], truncation=True, max_length=self.max_seq_length)
        return [len(row) for row in ids["input_ids"]]

    def encode_queries(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed search queries with the model's query prompt, if it has one: ``(n, d)`` float32, normalised."""
        encode_query = getattr(self.model, "encode_query", None)  # sentence-transformers >= 5
        if encode_query is None:
            return self._finish(self.model.encode(list(texts), prompt=self.query_prompt or None,
                                                  batch_size=batch_size, show_progress_bar=progress,
                                                  normalize_embeddings=True, convert_to_numpy=True))
        return self._finish(encode_query(list(texts), batch_size=batch_size, show_progress_bar=progress,
                                         normalize_embeddings=True, convert_to_numpy=True))

    def _finish(self, array: np.ndarray) -> np.ndarray:
        if array.size == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.ascontiguousarray(array, dtype=np.float32)

    def probe_vector(self) -> np.ndarray:
        """Embedding of :data:`PROBE_TEXT`: ``(d,)`` float32, normalised; cached."""
        if self._probe is None:
            vectors = self.model.encode([PROBE_TEXT], normalize_embeddings=True, convert_to_numpy=True)
            self._probe = np.asarray(vectors[0], dtype=np.float32)
        return self._probe

    @torch.inference_mode()
    def forward_batch(self, texts: Sequence[str], encodings: Sequence[MemoryEncoding | str],
                      return_lengths: bool = False) -> tuple:
        """One forward pass over one batch of documents.

        Returns:
            ``(b, d)`` float32 normalised embeddings and ``{encoding: (b, m, d_enc)}`` float32 memory arrays;
            with ``return_lengths`` also the ``(b,)`` token counts the model read.
        """
        out = self._forward(list(texts))
        embeddings = torch.nn.functional.normalize(out["sentence_embedding"].float(), p=2, dim=1)
        memory: dict[str, np.ndarray] = {}
        for encoding in map(parse_encoding, encodings):
            if encoding.kind == "pooled":
                memory[encoding.name] = embeddings[:, None, :].cpu().numpy()
            else:
                memory[encoding.name] = segment_pool(_token_states(out), out["attention_mask"],
                                                     encoding.m).cpu().numpy()
        if return_lengths:
            return embeddings.cpu().numpy(), memory, out["attention_mask"].sum(dim=1).cpu().numpy()
        return embeddings.cpu().numpy(), memory

    def _forward(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Tokenize and run the model; sentence-transformers 6 API, with the < 6 one as fallback."""
        prompt = self.document_prompt
        if hasattr(self.model, "preprocess"):
            features = self.model.preprocess(texts, prompt=prompt or None, task="document")
            return self.model(_to_device(features, self.model.device), task="document")
        features = self.model.tokenize([prompt + t for t in texts])
        return self.model(_to_device(features, self.model.device))

    def encode_with_memory(self, texts: Sequence[str], encodings: Sequence[MemoryEncoding | str],
                           batch_size: int = 64, progress: bool = False
                           ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Embeddings and memory encodings of documents, one forward pass per batch.

        Returns:
            ``(n, d)`` float32 normalised embeddings and ``{encoding: (n, m, d_enc)}`` float32 arrays, in
            input order. Batches are formed over length-sorted texts to waste less padding.
        """
        names = [parse_encoding(e).name for e in encodings]
        n = len(texts)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        embeddings = np.zeros((n, self.dim), dtype=np.float32)
        memory: dict[str, np.ndarray] = {}
        with tqdm(total=n, desc="Embedding", unit="passage", disable=not progress) as bar:
            for start in range(0, n, batch_size):
                rows = order[start:start + batch_size]
                emb, mem = self.forward_batch([texts[i] for i in rows], names)
                embeddings[rows] = emb
                for name, values in mem.items():
                    if name not in memory:
                        memory[name] = np.zeros((n, *values.shape[1:]), dtype=np.float32)
                    memory[name][rows] = values
                bar.update(len(rows))
        for name in names:  # empty input: still one (0, m, d) array per encoding
            encoding = parse_encoding(name)
            dim = self.dim if encoding.kind == "pooled" else self.token_dim
            memory.setdefault(name, np.zeros((0, encoding.m, dim), dtype=np.float32))
        return embeddings, memory


def _token_states(out: dict) -> torch.Tensor:
    states = out["token_embeddings"]
    if states.ndim != 3:
        raise RuntimeError("The embedder returned unpadded token states; load it with unpad_inputs=False "
                           "(flash-attention unpadding) to compute 'segments' memory encodings.")
    return states


def _to_device(features: dict, device: torch.device) -> dict:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}


def load_embedder(name_or_path: str | Path | Embedder | None = None, device: str | None = None) -> Embedder:
    """Load a sentence-transformers model by name or path; ``None``/``"default"`` is the bundled MiniLM.

    An :class:`Embedder` passes through unchanged. Nothing is downloaded for the default.
    """
    if isinstance(name_or_path, Embedder):
        return name_or_path
    if name_or_path is not None and not isinstance(name_or_path, (str, Path)):
        raise TypeError(f"Cannot load an embedder from a {type(name_or_path).__name__}. Fix: pass a model name "
                        "or path, or wrap a loaded model as indexer.Embedder(model, id='<name to record>').")
    from sentence_transformers import SentenceTransformer

    from rag.defaults import embedder_id, resolve_embedder

    if name_or_path and Path(name_or_path).exists():
        # A local folder is recorded by absolute path so the manifest still resolves from another cwd.
        name_or_path = str(Path(name_or_path).resolve())
    location = resolve_embedder(name_or_path)
    logger.info("Loading embedder %s", location)
    model = SentenceTransformer(location, device=device)
    model.eval()
    embedder = Embedder(model, embedder_id(name_or_path))
    if not getattr(embedder.tokenizer, "is_fast", False):
        raise ValueError(f"Embedder {embedder.id!r} has no fast (Rust) tokenizer, which chunking needs for "
                         "character offsets. Fix: use a model that ships a tokenizer.json.")
    return embedder
