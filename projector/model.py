"""The projector: memory vectors -> soft tokens in the frozen LLM's input-embedding space.

Composed with the LLM (it only produces rows of ``inputs_embeds``), never a subclass of it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from projector.checkpoint import TENSORS_FILE, model_state
from projector.config import ProjectorConfig
from projector.reader_adapter import ReaderAdapter, reading_spec
from projector.reader_tokens import ReaderTokenInputs, reader_token_inputs
from rag import prompt as P
from rag.errors import ProjectorMismatchError
from rag.persistence import CONFIG_FILE, WEIGHTS_FILE, module_fingerprint, require_saved, save_module

if TYPE_CHECKING:
    from rag.llm import LLM
    from rag.prompt import EncodedPrompt
    from rag.selection import Window

logger = logging.getLogger(__name__)


def window_soft_tokens(projector: Projector, windows: Sequence[Window],
                       tokenizer: Any = None) -> tuple[torch.Tensor, list[int]]:
    """Soft tokens ``(sum n_i, d_model)`` of a window projector for ``windows`` in order, and each window's
    count ``n_i``: one per wordpiece (``wordpieces``), or per token of the window text in the LLM's
    ``tokenizer`` (``reader_tokens``), or one per ``merge_tokens`` of those (a window's last group padded), so
    ``n_i = ceil(tokens_i / merge_tokens)``. Training and inference both build soft windows here."""
    config = projector.config
    if not windows:
        return torch.zeros((0, config.d_model), device=projector.device), []
    if config.reads_reader_tokens:
        inputs = window_reader_inputs(config, windows, tokenizer)
        rows, pieces = [x.states for x in inputs], [x.pieces for x in inputs]
    else:
        rows, pieces = [w.states for w in windows], None
    group = config.merge_tokens
    states = torch.cat([padded_to_groups(r, group) for r in rows]).to(projector.device)
    piece_ids = torch.cat([padded_to_groups(p, group) for p in pieces]).to(projector.device)[None] \
        if pieces is not None else None
    soft = projector(states[None], piece_ids).reshape(-1, config.d_model)
    return with_reading_prompt(projector, soft, [-(-len(r) // group) for r in rows])


def padded_to_groups(rows: torch.Tensor, group: int) -> torch.Tensor:
    """``rows`` ``(n, ...)`` with zero rows appended up to a multiple of ``group`` (a window's last merged soft
    token reads its leftover tokens and zero states, piece index 0)."""
    missing = -len(rows) % group
    return torch.cat([rows, rows.new_zeros((missing, *rows.shape[1:]))]) if missing else rows


def soft_window_prompt(projector: Projector, llm: LLM, question: str, windows: Sequence[Window],
                       target: str | None = None) -> tuple[EncodedPrompt, torch.Tensor]:
    """The compressed prompt for ``question`` over ``windows`` (one soft block per window, the reading prompt where
    the projector writes it; ``target`` appended for training) and its soft tokens ``(n_soft, d_model)``. The
    compressed mode and distillation both build it here."""
    soft, sizes = window_soft_tokens(projector, windows, llm.tokenizer)
    message = P.soft_windows_message(question, sizes, projector.config.answer_prompt)
    return P.encode_prompt(llm, message, target), soft


def with_reading_prompt(projector: Projector, soft: torch.Tensor, sizes: list[int]) -> tuple[torch.Tensor, list[int]]:
    """``soft`` ``(sum n_i, d_model)`` with the projector's learned reading prompt ``(reading_prompt, d_model)``
    around it, in three parts: its first rows in front, counted in the first window's block (so the prompt reads:
    instruction, prompt, first window); then ``closing_prompt`` rows after the last window, counted in that window's
    block; then the last ``answer_prompt`` rows, counted in no window's block: they go after the question
    (``rag.prompt.soft_windows_message(..., after_question=answer_prompt)``), so ``sum(sizes) + answer_prompt``
    rows come back."""
    if projector.reading_prompt is None:
        return soft, sizes
    prompt = projector.reading_prompt.to(soft.dtype)
    n_before = projector.config.opening_prompt
    sizes = list(sizes)
    sizes[0] += n_before
    sizes[-1] += projector.config.closing_prompt
    return torch.cat([prompt[:n_before], soft, prompt[n_before:]]), sizes


def window_reader_inputs(config: ProjectorConfig, windows: Sequence[Window], tokenizer: Any) -> list[ReaderTokenInputs]:
    """What a ``reader_tokens`` projector reads of each window: one row per LLM token of the window text."""
    if tokenizer is None:
        raise ValueError("a 'reader_tokens' projector needs the LLM's tokenizer to cut windows into reader tokens")
    return [reader_token_inputs(tokenizer, w.text, w.states, w.offsets, config.max_pieces, config.read_case,
                                config.split_at_wordpieces) for w in windows]


def widened_for_merging(state: dict[str, torch.Tensor], mine: dict[str, torch.Tensor],
                        group: int) -> dict[str, torch.Tensor]:
    """``state`` of a one-token-per-soft-token projector made to fit ``mine``, which merges ``group`` tokens: its
    first Linear weight ``(hidden, d)`` becomes ``(hidden, group * d)``, ``group`` copies divided by ``group``, so
    a merged soft token starts from the MLP applied to the mean of its tokens' normalised inputs."""
    key = "net.1.weight"
    if group == 1 or key not in state or state[key].shape[1] * group != mine[key].shape[1]:
        return state
    logger.info("merging %d tokens per soft token: the first layer starts from the mean of its inputs", group)
    return {**state, key: state[key].repeat(1, group) / group}


class Projector(nn.Module):
    """LayerNorm + two-layer GELU MLP (xRAG), outputs L2-normalised then scaled to the LLM's embedding norm.

    ``forward``: ``(batch, m, d_embed)`` -> ``(batch, m / g * t, d_model)`` with ``t = tokens_per_vector`` and
    ``g = merge_tokens`` (``g`` consecutive inputs, each LayerNormed, are concatenated into one MLP input).
    """

    def __init__(self, config: ProjectorConfig) -> None:
        super().__init__()
        self.config = config
        t, d_model = config.tokens_per_vector, config.d_model
        # Input LayerNorm: token-state segments are not unit-norm like pooled embeddings; this puts both
        # encodings on one scale before the xRAG-style two-layer GELU MLP.
        self.net = nn.Sequential(
            nn.LayerNorm(config.d_embed),
            nn.Linear(config.d_embed * config.merge_tokens, config.hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, t * d_model),
        )
        # Learned log-scale around the target norm: starts exactly at the LLM's embedding scale.
        self.log_scale = nn.Parameter(torch.zeros(()))
        # reader_tokens: which reader token of its wordpiece an input stands for ("1947" -> "1", "9", "4", "7"),
        # and, with read_case, its case, added to the wordpiece state. Zero-initialised: it starts as the plain state.
        self.piece_embedding = nn.Embedding(config.piece_rows, config.d_embed) if config.max_pieces else None
        if self.piece_embedding is not None:
            nn.init.zeros_(self.piece_embedding.weight)
        # Window encodings: learned rows in the LLM's input space around the windows, free of the output
        # norm (prompt tuning). Random at the target norm until init_reading_prompt puts real tokens there.
        self.reading_prompt = nn.Parameter(F.normalize(torch.randn(config.reading_prompt, config.d_model), dim=-1)
                                           * config.target_norm) if config.reading_prompt else None
        # Window encodings: low-rank deltas on the LLM, attached only while it reads these soft tokens (reading()).
        self.reader_adapter = ReaderAdapter(config.reader_adapter) if config.reader_adapter else None

    def reading(self, llm: LLM) -> AbstractContextManager:
        """The block in which ``llm`` reads this projector's soft tokens: with its reader adapter attached, if it
        has one (training's student forward, the compressed mode's generation); the LLM as loaded otherwise."""
        return self.reader_adapter.attached(llm.model) if self.reader_adapter is not None else nullcontext()

    def init_reading_prompt(self, token_embeddings: torch.Tensor) -> None:
        """Start the reading prompt from real token embeddings ``(n, d_model)``, repeated to its length (prompt
        tuning trains better from words than from noise)."""
        if self.reading_prompt is None or not len(token_embeddings):
            raise ValueError("init_reading_prompt needs a projector with reading_prompt > 0 and at least one token")
        rows = token_embeddings.repeat(-(-len(self.reading_prompt) // len(token_embeddings)), 1)
        with torch.no_grad():
            self.reading_prompt.copy_(rows[:len(self.reading_prompt)])

    @property
    def device(self) -> torch.device:
        return self.net[1].weight.device

    def forward(self, memory: torch.Tensor, pieces: torch.Tensor | None = None) -> torch.Tensor:
        """``pieces`` ``(batch, m)`` long: reader-token piece indices
        (:func:`projector.reader_tokens.reader_token_inputs`), required exactly when ``max_pieces > 0``; ``m`` a
        multiple of ``merge_tokens``."""
        batch, m, _ = memory.shape
        group = self.config.merge_tokens
        if m % group:
            raise ValueError(f"{m} inputs cannot be merged {group} at a time: pad each window to a multiple of "
                             "merge_tokens (projector.model.padded_to_groups)")
        memory = memory.to(self.net[1].weight.dtype)
        if (pieces is None) != (self.piece_embedding is None):
            raise ValueError("pass `pieces` to a 'reader_tokens' projector (projector.reader_tokens), and only to one")
        if self.piece_embedding is not None:
            memory = memory + self.piece_embedding(pieces)
        memory = self.net[0](memory).reshape(batch, m // group, group * memory.shape[-1])
        out = self.net[1:](memory)
        out = out.view(batch, m // group * self.config.tokens_per_vector, self.config.d_model)
        return F.normalize(out, dim=-1) * (self.config.target_norm * self.log_scale.exp())

    # --- persistence ---------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, dtype: torch.dtype = torch.float32) -> None:
        """Write ``config.json`` and ``model.safetensors`` (``dtype`` fp16 for shipping)."""
        save_module(self, self.config, directory, dtype)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> Projector:
        directory = require_saved(directory, "projector", "Projector.save_pretrained or `squeezerag train`")
        model = cls(ProjectorConfig.load(directory / CONFIG_FILE))
        model.load_weights_from(directory)
        return model.to(device).eval()

    def load_weights_from(self, path: str | Path, continuing: bool = False) -> None:
        """Start from another projector's weights: a ``save_pretrained`` folder or a training checkpoint.

        Used to continue training (e.g. the shipped default on your own corpus). Shapes must match; with
        ``continuing`` the parts ``path`` lacks, a reading prompt or a reader adapter, keep their own start, and a
        projector that merges tokens may start from one that does not (:func:`widened_for_merging`).
        """
        path = Path(path)
        if (path / WEIGHTS_FILE).exists():
            state = load_file(str(path / WEIGHTS_FILE))
        elif (path / TENSORS_FILE).exists():
            state = model_state(load_file(str(path / TENSORS_FILE)))
        else:
            raise FileNotFoundError(f"{path} holds neither {WEIGHTS_FILE} nor {TENSORS_FILE}; pass a "
                                    "projector folder or a stage checkpoint folder of `squeezerag train`")
        mine = self.state_dict()
        state = widened_for_merging(state, mine, self.config.merge_tokens)
        bad = [f"{k}: {tuple(v.shape)} vs {tuple(mine[k].shape)}" for k, v in state.items()
               if k in mine and v.shape != mine[k].shape]
        missing = {k for k in set(mine) - set(state)
                   if not (continuing and (k == "reading_prompt" or k.startswith("reader_adapter.")))}
        if bad or missing or set(state) - set(mine):
            raise ProjectorMismatchError(f"cannot initialise from {path}: shapes differ ({'; '.join(bad) or 'keys'})"
                                         "; use a projector with the same encoding, tokens per vector and hidden size")
        self.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)

    def fingerprint(self) -> str:
        """sha256 over config and weights: identifies the projector in benchmark configs. The reader adapter's
        training-only settings (its dropout) are left out: they do not change what the weights compute."""
        config = self.config
        if config.reader_adapter:
            config = replace(config, reader_adapter=reading_spec(config.reader_adapter))
        return module_fingerprint(config, self)

    # --- compatibility -------------------------------------------------------------------------
    def check_compatible(self, embedder_id: str, embed_dim: int, llm_id: str, llm_hidden: int,
                         memory_encodings: list[str] | None = None) -> None:
        """Refuse a projector trained for another embedder, LLM or memory encoding, naming both sides."""
        c = self.config
        problems = []
        if c.embedder_id and c.embedder_id != embedder_id:
            problems.append(f"embedder: projector '{c.embedder_id}' vs index '{embedder_id}'")
        if c.d_embed != embed_dim:
            problems.append(f"embedding dim: projector {c.d_embed} vs index {embed_dim}")
        if c.llm_id and c.llm_id != llm_id:
            problems.append(f"LLM: projector '{c.llm_id}' vs LLM in use '{llm_id}'")
        if c.d_model != llm_hidden:
            problems.append(f"LLM hidden size: projector {c.d_model} vs LLM in use {llm_hidden}")
        if memory_encodings is not None and c.memory_encoding not in memory_encodings:
            problems.append(
                f"memory encoding: projector reads '{c.memory_encoding}' but the index stores "
                f"{memory_encodings}; add it with `squeezerag index add-memory DIR --encoding {c.memory_encoding}`")
        if problems:
            raise ProjectorMismatchError(
                "projector does not fit this setup: " + "; ".join(problems)
                + ". Use a projector trained for this (embedder, LLM) pair, or train one with `squeezerag train`.")
