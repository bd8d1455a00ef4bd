"""The ``reader_tokens`` encoding: one soft token per LLM (reader) token of a window, not per embedder wordpiece.

The two tokenisers cut text differently. MiniLM keeps a year such as "1947" as one wordpiece, SmolLM2 reads it as
four digit tokens; a ``wordpieces`` projector gives one soft token for all four and the frozen reader cannot spell
the number back (measured: docs/results.md, "Soft tokens from the selected windows"). Here each reader token of the
window text gets the overlap-weighted mean state of the wordpieces sharing its characters, plus which token of
its wordpiece it is (its *piece*: 0 for the first reader token of "1947", 3 for the "7"), so the projector can
be aligned to the exact embedding of each reader token. Measured, it does not recover the numbers either: the
wordpiece states themselves blur the digits (docs/results.md, "Soft tokens per reader token").

Where the two tokenisers cut a word differently, a reader token spans several wordpieces (SmolLM2's "oplast" over
MiniLM's "##op", "##las", "##t") or a wordpiece several reader tokens, and those 18% of tokens hold 63% of the shipped
projector's misses on the validation paragraphs (their fidelity 0.06-0.59 against 0.94 where the cuts agree): such
a token is a combination of wordpieces the projector must have seen together. With ``split_at_wordpieces`` the
window text is instead tokenised one wordpiece at a time (each wordpiece's characters with the text before them
since the previous one), so every reader token lies inside one wordpiece and is learned per wordpiece; the reader
then reads a finer, non-canonical tokenisation of the same text (" Ch" "lor" "op" "las" "ts" for " Chloroplasts").
Measured, it cuts the wrong tokens by a third and ties on accuracy (docs/results.md, "Reader tokens cut at wordpiece
boundaries").

The default embedder (all-MiniLM-L6-v2) is uncased, so " museum" and " Museum" have the same states and 43% of the
shipped projector's misses on capitalised tokens were case errors (docs/results.md, "A wider projector"). A projector
with ``read_case`` is also told each reader token's case class, read off the window text like the piece index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

# Case classes of a reader token's letters: none or lower-case first, capitalised first, all capitals ("NASA").
LOWER, CAPITALISED, ALL_CAPITALS = 0, 1, 2
CASE_CLASSES = 3


@dataclass
class ReaderTokenInputs:
    """Projector inputs for a text read as ``T`` reader tokens: ``states`` ``(T, d_tok)``, ``pieces`` ``(T,)``
    (index of the token within its main wordpiece, capped below ``max_pieces``, plus ``max_pieces`` times its
    :func:`case_class` when case is read) and the reader's ``token_ids`` ``(T,)``."""

    states: torch.Tensor
    pieces: torch.Tensor
    token_ids: torch.Tensor


def shared_characters(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(n, m)`` characters that the ``[start, end)`` spans ``a`` ``(n, 2)`` share with spans ``b`` ``(m, 2)``."""
    return (np.minimum(a[:, None, 1], b[None, :, 1]) - np.maximum(a[:, None, 0], b[None, :, 0])).clip(min=0).astype(
        np.float32)


def case_class(token_text: str) -> int:
    """:data:`LOWER`, :data:`CAPITALISED` (" Museum", "A") or :data:`ALL_CAPITALS` (" NASA": two or more letters,
    all capitals) by the token's letters; tokens without letters (digits, punctuation) are :data:`LOWER`."""
    letters = [c for c in token_text if c.isalpha()]
    if not letters or not letters[0].isupper():
        return LOWER
    return ALL_CAPITALS if len(letters) > 1 and all(c.isupper() for c in letters) else CAPITALISED


def index_within_wordpiece(pieces: torch.Tensor, max_pieces: int) -> torch.Tensor:
    """``pieces`` (as :class:`ReaderTokenInputs` holds them) without the case class added to them."""
    return pieces % max_pieces


def nearest_wordpiece(token: np.ndarray, wordpieces: np.ndarray) -> int:
    """The wordpiece closest to a reader token that shares no character with any (a space or a newline):
    the one it precedes, since the reader's tokens carry the space before a word."""
    after = np.where(wordpieces[:, 0] >= token[1], wordpieces[:, 0] - token[1], np.inf)
    before = np.where(wordpieces[:, 1] <= token[0], token[0] - wordpieces[:, 1] + 0.5, np.inf)
    return int(np.argmin(np.minimum(after, before)))


def token_wordpiece_overlap(tokens: np.ndarray, wordpieces: np.ndarray) -> np.ndarray:
    """``(T, L)`` characters each reader token ``[start, end)`` in ``tokens`` ``(T, 2)`` shares with each wordpiece
    in ``wordpieces`` ``(L, 2)``; a token that shares none (a space, a newline) gets 1 with its
    :func:`nearest_wordpiece`. A token's *main* wordpiece is the argmax of its row."""
    shared = shared_characters(tokens, wordpieces)
    for t in np.flatnonzero(shared.sum(1) == 0):
        shared[t, nearest_wordpiece(tokens[t], wordpieces)] = 1.0
    return shared


def reader_tokens(tokenizer: Any, text: str) -> tuple[list[int], np.ndarray]:
    """The reader's token ids of ``text`` tokenised alone (as the window's text block would be) and their
    character spans ``(T, 2)``."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return list(enc.input_ids), np.asarray(enc.offset_mapping, dtype=np.int64).reshape(-1, 2)


def wordpiece_bounded_tokens(tokenizer: Any, text: str, offsets: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Like :func:`reader_tokens`, but ``text`` is cut after each wordpiece at ``offsets`` ``(L, 2)`` and each
    part (a wordpiece's characters with the text before them since the previous wordpiece; the last part runs to
    the end of ``text``) is tokenised on its own, so no reader token crosses a wordpiece boundary."""
    ends = [int(e) for e in offsets[:-1, 1]] + [len(text)]
    ids: list[int] = []
    spans = []
    start = 0
    for end in ends:
        if end <= start:  # a wordpiece inside the previous one's span (never for MiniLM's offsets)
            continue
        part_ids, part_spans = reader_tokens(tokenizer, text[start:end])
        ids += part_ids
        spans.append(part_spans + start)
        start = end
    return ids, np.concatenate(spans) if spans else np.zeros((0, 2), dtype=np.int64)


def reader_token_inputs(tokenizer: Any, text: str, states: torch.Tensor, offsets: np.ndarray,
                        max_pieces: int, read_case: bool = False,
                        split_at_wordpieces: bool = False) -> ReaderTokenInputs:
    """Map the wordpiece ``states`` ``(L, d_tok)`` at character ``offsets`` ``(L, 2)`` of ``text`` onto the
    reader's tokens of ``text`` (:func:`reader_tokens`, or :func:`wordpiece_bounded_tokens` with
    ``split_at_wordpieces``); ``read_case`` adds each token's case class to its piece index (see
    :class:`ReaderTokenInputs`)."""
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    if len(offsets) == 0:
        raise ValueError(f"no wordpiece states for {text[:60]!r}: a window needs at least one wordpiece")
    ids, tokens = wordpiece_bounded_tokens(tokenizer, text, offsets) if split_at_wordpieces \
        else reader_tokens(tokenizer, text)
    shared = token_wordpiece_overlap(tokens, offsets)
    weights = torch.from_numpy(shared / shared.sum(1, keepdims=True))
    seen: dict[int, int] = {}  # reader tokens so far per main wordpiece
    pieces = []
    for main in shared.argmax(1).tolist():
        pieces.append(seen.get(main, 0))
        seen[main] = pieces[-1] + 1
    pieces = torch.tensor(pieces, dtype=torch.long).clamp(max=max_pieces - 1)
    if read_case:
        pieces += max_pieces * torch.tensor([case_class(text[s:e]) for s, e in tokens.tolist()], dtype=torch.long)
    return ReaderTokenInputs(weights @ states.float().cpu(), pieces, torch.tensor(ids, dtype=torch.long))
