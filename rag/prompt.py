"""Prompt assembly: the ONE path from (instruction, context, question, soft tokens) to ``inputs_embeds``.

Inference (every mode) and projector training (both stages, student and teacher) call these functions,
so the projector is trained on exactly the prompts it is used with.

Soft tokens are written in the user message as :data:`SOFT_MARKER`; the chat-templated text is split on
it, each text piece tokenised on its own, and one placeholder position inserted per marker. No token is
added to the vocabulary: the LLM stays untouched and the placeholder rows are overwritten by projector
output before the forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rag.llm import LLM

SOFT_MARKER = "<|soft|>"
PROMPT_VERSION = "qa-v1"

SYSTEM = "You answer questions with a short phrase, using the background when it is given."
QA_WITH_CONTEXT = "Background:\n{context}\n\nQuestion: {question}\nAnswer with a few words."
QA_CLOSED_BOOK = "Question: {question}\nAnswer with a few words."
DOC_SEPARATOR = "\n"
# What a window projector's learned reading prompt starts as (projector.model.Projector.init_reading_prompt).
READING_PROMPT_START = "Words from the passages, in order:"
# Stage-1 (paraphrase pretraining) instructions: several phrasings so the projector learns content,
# not one instruction's quirks (xRAG uses "... means the same as").
PARAPHRASE_INSTRUCTIONS = (
    "Repeat the background text.",
    "What does the background say? Write it out.",
    "Paraphrase the background.",
    "The background, in plain text:",
)


@dataclass
class EncodedPrompt:
    """One tokenised example. ``soft_positions`` index into ``ids``; ``n_prompt`` ids precede the target."""

    ids: list[int]
    soft_positions: list[int]
    n_prompt: int

    @property
    def n_soft(self) -> int:
        return len(self.soft_positions)


@dataclass
class PromptBatch:
    """A left-padded batch ready for ``model(inputs_embeds=...)`` or ``generate``.

    inputs_embeds: ``(batch, seq, d_model)``; attention_mask, position_ids: ``(batch, seq)``;
    labels: ``(batch, seq)`` with -100 outside targets, or ``None`` when no targets were given.
    """

    inputs_embeds: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    labels: torch.Tensor | None
    prompt_tokens: list[int]


@dataclass
class BuiltPrompts:
    """One batch of questions made ready to answer: ``prompts``, the soft tokens (compressed only: one
    ``(n_soft, d_model)`` per question), ``context_tokens`` (how many the context occupies) and ``context_texts``
    (the text the context stands for, per question: passages, windows, or the passages behind stored memory)."""

    prompts: list[EncodedPrompt]
    soft: list[torch.Tensor] | None
    context_tokens: list[int]
    context_texts: list[list[str]]


def soft_block(n_tokens: int) -> str:
    """The context text standing for one document compressed into ``n_tokens`` soft tokens."""
    return SOFT_MARKER * n_tokens


def qa_message(question: str, contexts: list[str] | None) -> str:
    """User message for QA. ``contexts``: passage texts, soft blocks, or ``None``/``[]`` (closed book)."""
    if not contexts:
        return QA_CLOSED_BOOK.format(question=question.strip())
    return QA_WITH_CONTEXT.format(context=DOC_SEPARATOR.join(contexts), question=question.strip())


def soft_qa_message(question: str, n_passages: int, soft_per_passage: int) -> str:
    """QA user message whose context is ``n_passages`` compressed passages (compressed mode and training)."""
    return qa_message(question, [soft_block(soft_per_passage)] * n_passages)


def soft_windows_message(question: str, window_sizes: list[int], after_question: int = 0) -> str:
    """QA user message whose context is one soft block per selected window (window projectors), and
    ``after_question`` more soft tokens at its very end (a projector's ``answer_prompt``).

    Its text twin, the distillation teacher, is ``qa_message(question, window_texts)``: the same layout with
    each window as text on its own line (and nothing after the question: the soft rows there stand for no text).
    """
    message = qa_message(question, [soft_block(n) for n in window_sizes])
    return f"{message}\n{soft_block(after_question)}" if after_question else message


def paraphrase_message(context: str, instruction: str) -> str:
    """User message for stage-1 training: a background (a soft block in training), then an instruction to
    restate it. The text or empty background views of the same message measure what soft tokens carry."""
    return f"Background:\n{context}\n\n{instruction}"


def format_passage(title: str, text: str) -> str:
    """How a retrieved passage appears in a full-text prompt."""
    return f"{title}: {text}" if title and not text.startswith(title) else text


def encode_prompt(llm: LLM, user_message: str, target: str | None = None) -> EncodedPrompt:
    """Chat-template ``user_message``, tokenise it with one placeholder per soft marker, append ``target``.

    The target (an answer or a passage, for training) is followed by the end-of-turn token so the model
    learns to stop.
    """
    tok = llm.tokenizer
    text = llm.chat_text(user_message, system=SYSTEM)
    placeholder = tok.pad_token_id
    ids: list[int] = []
    soft_positions: list[int] = []
    pieces = text.split(SOFT_MARKER)
    for i, piece in enumerate(pieces):
        if piece:
            ids.extend(tok(piece, add_special_tokens=False).input_ids)
        if i < len(pieces) - 1:
            soft_positions.append(len(ids))
            ids.append(placeholder)
    n_prompt = len(ids)
    if target is not None:
        ids.extend(tok(target, add_special_tokens=False).input_ids)
        ids.append(tok.eos_token_id)
    return EncodedPrompt(ids=ids, soft_positions=soft_positions, n_prompt=n_prompt)


def assemble(llm: LLM, prompts: list[EncodedPrompt], soft: list[torch.Tensor] | None = None,
             with_labels: bool = False) -> PromptBatch:
    """Embed and left-pad ``prompts``; write ``soft[i]`` ``(n_soft_i, d_model)`` over prompt i's placeholders.

    Soft tokens are cast to the LLM's dtype; gradients flow back into them (training), never into the LLM.
    """
    if soft is not None and len(soft) != len(prompts):
        raise ValueError(f"got {len(soft)} soft-token tensors for {len(prompts)} prompts")
    seq = max(len(p.ids) for p in prompts)
    pad = llm.tokenizer.pad_token_id
    ids = torch.full((len(prompts), seq), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), seq), dtype=torch.long)
    labels = torch.full((len(prompts), seq), -100, dtype=torch.long)
    for i, p in enumerate(prompts):
        offset = seq - len(p.ids)
        ids[i, offset:] = torch.tensor(p.ids)
        mask[i, offset:] = 1
        labels[i, offset + p.n_prompt:] = torch.tensor(p.ids[p.n_prompt:], dtype=torch.long)
    embeds = llm.embed(ids)
    if soft is not None:
        embeds = _write_soft_tokens(embeds, prompts, soft, seq)
    # Positions count real tokens only, as generate() does for left-padded batches.
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    device = llm.device
    return PromptBatch(inputs_embeds=embeds, attention_mask=mask.to(device), position_ids=position_ids.to(device),
                       labels=labels.to(device) if with_labels else None,
                       prompt_tokens=[p.n_prompt for p in prompts])


def _write_soft_tokens(embeds: torch.Tensor, prompts: list[EncodedPrompt], soft: list[torch.Tensor],
                       seq: int) -> torch.Tensor:
    rows, cols, values = [], [], []
    for i, (p, s) in enumerate(zip(prompts, soft)):
        if s.shape[0] != p.n_soft:
            raise ValueError(f"prompt {i} has {p.n_soft} soft placeholders but got {s.shape[0]} soft tokens")
        if p.n_soft == 0:
            continue
        offset = seq - len(p.ids)
        rows += [i] * p.n_soft
        cols += [offset + j for j in p.soft_positions]
        values.append(s)
    if not values:
        return embeds
    vals = torch.cat(values).to(embeds.device, embeds.dtype)
    # index_put (not in-place on a leaf) keeps the graph from the projector to the loss.
    return embeds.index_put((torch.tensor(rows, device=embeds.device), torch.tensor(cols, device=embeds.device)),
                            vals)


def forward_logits(llm: LLM, batch: PromptBatch) -> torch.Tensor:
    """Logits ``(batch, seq, vocab)`` of the frozen LLM on an assembled batch."""
    out = llm.model(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                    position_ids=batch.position_ids, use_cache=False)
    return out.logits
