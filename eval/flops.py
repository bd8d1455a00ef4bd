"""An estimate of the forward FLOPs of answering one question: the LLM's, from the token counts of its prompt
and answer, plus the embedder's and the projector's where they run at answer time.

Formula (Kaplan et al. 2020, with a causal attention term), for a decoder of ``N`` parameters, ``L`` layers
and width ``d``:

    T     = P + max(G - 1, 0)          tokens that go through the model: the P prompt positions (soft tokens
                                       count like text tokens) plus every generated token but the last
    FLOPs = 2·N·T  +  Σ_{t=1..T} 2·L·d·t  =  2·N·T + L·d·T·(T + 1)

``2·N`` per token is the weight matmuls (a multiply-add = 2 FLOPs); ``2·L·d·t`` is the attention scores and
the weighted sum for a token that sees ``t`` positions (KV cache: each token is processed once). ``N`` is the
total parameter count, embedding matrix included: the LM head's matmul (tied to the embedding in the bundled
LLM) costs what that matrix holds, while the input lookup costs nothing, so an untied LLM errs high by its
input embedding's share.

An answer's FLOPs (:meth:`CostModel.answer_flops`) add, beside the LLM, what runs at answer time for the modes
that retrieve or read passages through the embedder or the projector:

    retrieval       the embedder over the question (with its query prompt), in every mode that retrieves: the
                    encoder formula below over one sequence
    search          the vector search, where the index is exhaustive (``Flat``): 2·rows·d, one inner product
                    per stored vector (``indexer.faiss_store.exact_search_flops``); an approximate index's
                    (HNSW, IVF) depends on its graph or lists and is left out
    embedder        Σ over the sequences it reads (the question and each passage, after truncation) of
                    2·N_e·T + 2·L_e·d_e·T²   (bidirectional: every token sees all T; N_e without the
                    embedding tables, which are lookups)
    window scorer   its matmuls and convolutions over each passage's L wordpieces, paired with the question's Q
                    (:func:`scorer_flops`; the embedder's special tokens, which it does not see, left out)
    projector       2·(its MLP's parameters) per MLP row (one row per soft token / tokens per row)
    reader adapter  2·(its parameters) per token the LLM processes while it is attached (rank-r deltas:
                    r·(d_in + d_out) multiply-adds per layer and token)

Not counted: an approximate index's search, the copy bias (one addition over the vocabulary's logits per generated token:
~5·10⁴ FLOPs against the bundled LLM's ~2.7·10⁸ per token, under 0.02%) and, for a stored-memory projector
(``pooled``, ``segments:m``), embedding a passage that is not in the index (the oracle's gold passage) on the fly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from rag.token_states import embedder_transformer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelShape:
    """The three numbers the FLOPs estimate needs."""

    n_params: int
    n_layers: int
    d_model: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class ProjectorShape:
    """What a projector costs at answer time (see the module docstring)."""

    mlp_params: int  # weights and biases of its two linear layers
    tokens_per_row: int  # soft tokens one MLP row produces
    prompt_tokens: int  # learned reading-prompt rows: copied, not computed
    adapter_params: int  # reader-adapter deltas (0: none)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class ScorerShape:
    """The sizes of a :class:`rag.window_scorer.WindowScorer` its FLOPs depend on."""

    d_embed: int
    rank: int
    hidden: int
    kernel: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def processed_tokens(prompt_tokens: int, new_tokens: int) -> int:
    """Positions that go through the LLM: the prompt and every generated token but the last."""
    return prompt_tokens + max(new_tokens - 1, 0)


def llm_flops(shape: ModelShape, prompt_tokens: int, new_tokens: int) -> float:
    """Estimated forward FLOPs for one sequence (see the module docstring for the formula)."""
    processed = processed_tokens(prompt_tokens, new_tokens)
    return 2.0 * shape.n_params * processed + float(shape.n_layers * shape.d_model) * processed * (processed + 1)


def encoder_flops(shape: ModelShape, lengths: Sequence[int]) -> float:
    """Estimated forward FLOPs of a bidirectional encoder over sequences of ``lengths`` tokens."""
    return float(sum(2 * shape.n_params * t + 2 * shape.n_layers * shape.d_model * t * t for t in lengths))


def scorer_flops(shape: ScorerShape, question_tokens: int, passage_tokens: Sequence[int]) -> float:
    """FLOPs of the window scorer's forward over each passage of ``passage_tokens`` wordpieces paired with a
    question of ``question_tokens`` (what ``torch.utils.flop_counter`` counts: matmuls and convolutions)."""
    d, r, h, k, q = shape.d_embed, shape.rank, shape.hidden, shape.kernel, question_tokens
    per_passage = q * d + q * d + d * r  # question pooling: its logits, the weighted sum, the match features
    per_wordpiece = q * d + 2 * d * r + (2 + 2 * r) * h * k + h * h * k + h  # cosines, features, convolutions
    return float(sum(2 * (per_passage + per_wordpiece * n) for n in passage_tokens))


@dataclass(frozen=True)
class CostModel:
    """The shapes an answer's FLOPs estimate needs; ``embedder``, ``scorer`` and ``projector`` are None where
    unknown or not run. ``special_tokens``: what the embedder's tokeniser adds to each sequence ([CLS], [SEP]),
    read by the embedder but dropped before the window scorer. ``search``: FLOPs of one query's vector search
    (0: not known, an approximate index)."""

    llm: ModelShape
    embedder: ModelShape | None = None
    projector: ProjectorShape | None = None
    scorer: ScorerShape | None = None
    special_tokens: int = 0
    search: float = 0.0

    def answer_flops(self, mode: str, prompt_tokens: int, new_tokens: int, context_tokens: int,
                     embedder_lengths: Sequence[int] = (), query_tokens: int = 0) -> dict[str, float]:
        """FLOPs by part (``llm``, ``retrieval``, ``search``, ``embedder``, ``window_scorer``, ``projector``,
        ``reader_adapter``; parts that did not run are left out) of one answer in ``mode`` (a ``rag.RAG`` mode:
        ``compressed`` for the oracle's too). ``embedder_lengths``: the question's and each passage's tokens the
        embedder read to find windows; ``query_tokens``: the question's as retrieval embedded it (0: no retrieval)."""
        parts = {"llm": llm_flops(self.llm, prompt_tokens, new_tokens)}
        if query_tokens and self.embedder is not None:
            parts["retrieval"] = encoder_flops(self.embedder, [query_tokens])
        if query_tokens and self.search:
            parts["search"] = self.search
        if embedder_lengths and self.embedder is not None:
            parts["embedder"] = encoder_flops(self.embedder, embedder_lengths)
        if len(embedder_lengths) > 1 and self.scorer is not None:
            question, *passages = (max(n - self.special_tokens, 0) for n in embedder_lengths)
            parts["window_scorer"] = scorer_flops(self.scorer, question, passages)
        p = self.projector
        if mode == "compressed" and p is not None:
            rows = max(context_tokens - p.prompt_tokens, 0) / p.tokens_per_row
            parts["projector"] = 2.0 * p.mlp_params * rows
            if p.adapter_params:
                parts["reader_adapter"] = 2.0 * p.adapter_params * processed_tokens(prompt_tokens, new_tokens)
        return parts

    def to_dict(self) -> dict[str, Any]:
        return {"llm": self.llm.to_dict(), "embedder": self.embedder.to_dict() if self.embedder else None,
                "projector": self.projector.to_dict() if self.projector else None,
                "window_scorer": self.scorer.to_dict() if self.scorer else None,
                "embedder_special_tokens": self.special_tokens, "search": self.search}


def model_shape(llm: Any) -> ModelShape | None:
    """Shape of a ``rag.LLM`` (``num_parameters()``, ``model.config``); None if it does not expose them."""
    try:
        config = llm.model.config
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        return ModelShape(n_params=int(llm.num_parameters()), n_layers=int(text_config.num_hidden_layers),
                          d_model=int(text_config.hidden_size))
    except (AttributeError, TypeError) as exc:
        logger.warning("Cannot read the LLM's size (%s); FLOPs estimates are left out.", exc)
        return None


def embedder_shape(embedder: Any) -> ModelShape:
    """Shape of a sentence-transformers embedder's transformer, its embedding tables (lookups) left out of
    ``n_params``."""
    model = embedder_transformer(embedder)
    tables = getattr(model, "embeddings", None)  # BERT-style: word, position and type tables together
    if tables is None:
        tables = model.get_input_embeddings()
    n_params = sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in tables.parameters())
    return ModelShape(n_params=int(n_params), n_layers=int(model.config.num_hidden_layers),
                      d_model=int(model.config.hidden_size))


def projector_shape(projector: Any) -> ProjectorShape:
    """The answer-time cost shape of a :class:`projector.model.Projector`."""
    linears = [m for m in projector.net if isinstance(m, torch.nn.Linear)]
    adapter = projector.reader_adapter
    return ProjectorShape(mlp_params=sum(p.numel() for m in linears for p in m.parameters()),
                          tokens_per_row=int(projector.config.tokens_per_vector),
                          prompt_tokens=int(projector.config.reading_prompt),
                          adapter_params=sum(p.numel() for p in adapter.parameters()) if adapter is not None else 0)


def cost_model(rag: Any, modes: Sequence[str]) -> CostModel | None:
    """The :class:`CostModel` of a ``rag.RAG`` answering in ``modes`` (``rag.RAG`` modes); None when its LLM's
    size cannot be read. The embedder's, window scorer's and projector's shapes are read only for the modes that
    run them (the embedder: every mode but closed book, which alone does not retrieve)."""
    llm = model_shape(getattr(rag, "llm", None))
    if llm is None:
        return None
    embedder = projector = scorer = None
    special, search = 0, 0.0
    try:
        if set(modes) - {"closed_book"}:
            embedder = embedder_shape(rag.embedder)
            search = (rag.index.search_flops if getattr(rag, "index", None) is not None else None) or 0.0
        if {"selected_text", "compressed"} & set(modes) and getattr(rag, "window_scorer", None) is not None:
            scorer = scorer_shape(rag.window_scorer)
            special = int(rag.embedder.tokenizer.num_special_tokens_to_add(pair=False))
        if "compressed" in modes and getattr(rag, "projector", None) is not None:
            projector = projector_shape(rag.projector)
    except (AttributeError, TypeError, ValueError) as exc:
        logger.warning("Cannot read the embedder's, window scorer's or projector's size (%s); FLOPs estimates "
                       "leave them out.", exc)
    return CostModel(llm=llm, embedder=embedder, projector=projector, scorer=scorer, special_tokens=special,
                     search=search)


def scorer_shape(scorer: Any) -> ScorerShape:
    """The sizes of a :class:`rag.window_scorer.WindowScorer` (from its config)."""
    c = scorer.config
    return ScorerShape(d_embed=int(c.d_embed), rank=int(c.rank), hidden=int(c.hidden), kernel=int(c.kernel))


def query_token_counts(rag: Any, questions: Sequence[str], costs: CostModel | None) -> dict[str, int]:
    """``{question: tokens}`` the embedder reads to embed each question for retrieval (its query prompt and
    special tokens included); empty when the cost model has no embedder or it cannot say."""
    if costs is None or costs.embedder is None or not hasattr(rag.embedder, "query_lengths"):
        return {}
    return dict(zip(questions, rag.embedder.query_lengths(questions)))
