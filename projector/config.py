"""Projector configuration, serialised as ``config.json`` beside ``model.safetensors``."""

from __future__ import annotations

from dataclasses import dataclass, field

from projector.reader_tokens import CASE_CLASSES
from rag.persistence import JsonConfig
from rag.token_states import LAST_LAYER, check_token_layers

# Memory encodings read at query time, not from the index: the embedder's wordpiece states of the
# question-aware windows (rag.selection), as one soft token per wordpiece, or per reader (LLM) token of the window
# text (projector.reader_tokens).
WORDPIECES = "wordpieces"
READER_TOKENS = "reader_tokens"
WINDOW_ENCODINGS = (WORDPIECES, READER_TOKENS)


@dataclass
class ProjectorConfig(JsonConfig):
    """What a projector maps from and to, and how it was trained.

    A memory vector ``(d_embed,)`` becomes ``tokens_per_vector`` soft tokens ``(d_model,)`` each, so a passage
    stored as ``m`` memory vectors becomes ``m * tokens_per_vector`` soft tokens.
    """

    d_embed: int
    d_model: int
    tokens_per_vector: int = 4
    hidden: int = 1024
    memory_encoding: str = "pooled"
    embedder_id: str = ""
    llm_id: str = ""
    # Soft tokens are scaled to the LLM's mean input-embedding norm so they sit where real tokens do.
    target_norm: float = 1.0
    dropout: float = 0.0
    # reader_tokens only: rows of the learned "which reader token of its wordpiece" embedding (0: none).
    max_pieces: int = 0
    # reader_tokens only: also tell the projector each reader token's case (an uncased embedder loses it).
    read_case: bool = False
    # reader_tokens only: tokenise the window text one embedder wordpiece at a time, so no reader token spans two
    # wordpieces (projector.reader_tokens.wordpiece_bounded_tokens).
    split_at_wordpieces: bool = False
    # Window encodings only: the embedder layers read per wordpiece, "last" or "all" (rag.token_states.TOKEN_LAYERS).
    token_layers: str = LAST_LAYER
    # Window encodings only: learned soft tokens written before the first window (prompt tuning: how the frozen
    # LLM should read the windows' soft tokens, learned with it; counted as context tokens). 0: none.
    reading_prompt: int = 0
    # Of those, how many are written after the last window instead (0: all before). In a causal LM a prompt before
    # the windows can only shape how they are read; one after them can attend to them before the question comes.
    closing_prompt: int = 0
    # Of those, how many are written at the very end of the user message instead, after the question: the last rows
    # the reader reads before it answers, which can attend to both the windows and the question.
    answer_prompt: int = 0
    # Window encodings only: consecutive tokens of a window read as one soft token (their inputs concatenated before
    # the MLP; a window's last group is padded), so a window of n tokens costs ceil(n / merge_tokens) soft tokens.
    merge_tokens: int = 1
    # Window encodings only: low-rank deltas on the LLM's linear layers, attached only while it reads this
    # projector's soft tokens (projector.reader_adapter.reader_adapter_spec: rank, alpha, modules). {}: none.
    reader_adapter: dict = field(default_factory=dict)
    prompt_version: str = ""
    training: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.memory_encoding in WINDOW_ENCODINGS and self.tokens_per_vector != 1:
            raise ValueError(f"a '{self.memory_encoding}' projector gives one soft token per token it reads: "
                             f"set tokens_per_vector=1, not {self.tokens_per_vector}")
        if self.memory_encoding == READER_TOKENS and self.max_pieces < 1:
            raise ValueError("a 'reader_tokens' projector needs max_pieces >= 1 (e.g. 8: a reader token's index "
                             "within its wordpiece is capped there)")
        for flag in ("read_case", "split_at_wordpieces"):
            if getattr(self, flag) and self.memory_encoding != READER_TOKENS:
                raise ValueError(f"{flag} applies to '{READER_TOKENS}' projectors only, not '{self.memory_encoding}'")
        check_token_layers(self.token_layers)
        if self.reading_prompt < 0 or (self.reading_prompt and self.memory_encoding not in WINDOW_ENCODINGS):
            raise ValueError(f"reading_prompt={self.reading_prompt}: a reading prompt is a count >= 0 of learned "
                             f"tokens before the windows of {WINDOW_ENCODINGS} projectors, not '{self.memory_encoding}'")
        if min(self.closing_prompt, self.answer_prompt) < 0 or \
                self.closing_prompt + self.answer_prompt > self.reading_prompt:
            raise ValueError(f"closing_prompt={self.closing_prompt}, answer_prompt={self.answer_prompt}: they count "
                             "the reading prompt's tokens written after the last window and after the question, so "
                             f"each is >= 0 and together <= reading_prompt={self.reading_prompt}")
        if self.merge_tokens < 1 or (self.merge_tokens > 1 and self.memory_encoding not in WINDOW_ENCODINGS):
            raise ValueError(f"merge_tokens={self.merge_tokens}: the window tokens read per soft token, >= 1, and "
                             f"above 1 only for window encodings {WINDOW_ENCODINGS}, not '{self.memory_encoding}'")
        if self.reader_adapter and self.memory_encoding not in WINDOW_ENCODINGS:
            raise ValueError(f"a reader adapter is trained by window distillation, for {WINDOW_ENCODINGS} "
                             f"projectors only, not '{self.memory_encoding}'")
        if self.token_layers != LAST_LAYER and self.memory_encoding not in WINDOW_ENCODINGS:
            raise ValueError(f"token_layers='{self.token_layers}' applies to window encodings {WINDOW_ENCODINGS} "
                             f"only, not '{self.memory_encoding}'")

    def soft_tokens_per_passage(self, n_vectors: int) -> int:
        return n_vectors * self.tokens_per_vector

    def require_token_per_soft_token(self, what: str) -> None:
        """Refuse a projector that merges tokens for ``what``, which compares each soft token with its own token."""
        if self.merge_tokens > 1:
            raise ValueError(f"{what} needs one soft token per token; this projector merges {self.merge_tokens} "
                             "tokens into each (merge_tokens): train it by QA distillation from one that does not")

    @property
    def opening_prompt(self) -> int:
        """Reading-prompt rows written before the first window (the rest go after the last window or the question)."""
        return self.reading_prompt - self.closing_prompt - self.answer_prompt

    @property
    def trained_copy_bias(self) -> float:
        """The copy bias its distillation added to the answer logits (``train-wordpieces --copy-bias``; 0: none),
        the bias it was trained to answer with."""
        distill = self.training.get("recipe", {}).get("distill", {})
        return float(distill.get("copy_bias") or 0.0)

    @property
    def reads_wordpieces(self) -> bool:
        """True when the projector maps selected windows' wordpiece states (not stored memory vectors)."""
        return self.memory_encoding in WINDOW_ENCODINGS

    @property
    def piece_rows(self) -> int:
        """Rows of the projector's piece embedding: a piece index per case class when it reads case."""
        return self.max_pieces * (CASE_CLASSES if self.read_case else 1)

    @property
    def reads_reader_tokens(self) -> bool:
        """True when it gives one soft token per reader token of a window (``pieces`` must be passed)."""
        return self.memory_encoding == READER_TOKENS
