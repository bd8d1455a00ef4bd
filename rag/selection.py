"""Question-aware extractive windows: the ``selected_text`` mode's compression.

Each retrieved passage is cut to the ``width`` embedder wordpieces that best match the question, and the
LLM reads those windows as text. A wordpiece scores its highest cosine with the question's content
wordpieces (ColBERT-style max-sim over the embedder's last-layer states, stop words dropped); the window
with the highest total score is then moved ``shift * width`` wordpieces forward, because a SQuAD-style
answer tends to follow the words the question repeats (measured: docs/results.md, "Selecting instead of pooling").

That untrained rule is the fallback. With a trained :class:`~rag.window_scorer.WindowScorer` the windows go
where it predicts the answer, and by default they are allocated across the k passages by joint answer mass
(:mod:`rag.window_allocation`). Either way the frozen LLM reads text it knows, at the budget a soft-token
projector has to beat. Token states are computed at query time from the passage text (one embedder forward
over the k passages), so any index works, with or without memory encodings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rag.token_states import LAST_LAYER, TokenStates, token_states
from rag.window_allocation import allocate_windows, window_masses

if TYPE_CHECKING:
    from rag.window_scorer import WindowScorer

# English function words in lowercase wordpiece form: matching them says nothing about where an answer is.
STOP_WORDS = frozenset(
    "the a an of in on at to for and or is was were are be by with as from that this which what who whom "
    "when where why how did does do it its their his her".split())


ALLOCATIONS = ("auto", "per_passage", "global")
SCORER_WIDTH, RULE_WIDTH = 8, 14
WINDOW_JOINER = " … "


@dataclass(frozen=True)
class WindowConfig:
    """How much of each passage ``selected_text`` keeps.

    ``width``: embedder wordpieces per window; ``None`` picks the measured operating point: 8 with a trained
    window scorer (≥10× fewer LLM context tokens than full passages), 14 with the untrained rule (~8× fewer;
    narrower rule windows lose the answer). ``shift``: fraction of the width the rule's best-matching window
    moves forward. ``max_length``: wordpieces read per passage or question, capped at the embedder's
    ``max_seq_length`` (the rest of a longer passage is never selected). ``allocation``: ``"per_passage"`` (one
    window in each passage), ``"global"`` (the same number of windows wherever a trained scorer puts the most
    answer mass; needs a scorer), or ``"auto"``: global with a scorer, per passage without. ``windows``: how many
    windows global allocation spends per question (``None``: one per retrieved passage), so the budget
    (``windows * width`` wordpieces) need not follow k. Measured: docs/results.md, "A trained window scorer" and
    "Wider and more windows".
    """

    width: int | None = None
    shift: float = 1 / 3
    max_length: int = 256
    allocation: str = "auto"
    windows: int | None = None

    def __post_init__(self) -> None:
        if self.allocation not in ALLOCATIONS:
            raise ValueError(f"WindowConfig.allocation must be one of {ALLOCATIONS}, got '{self.allocation}'")
        if self.width is not None and self.width < 1:
            raise ValueError(f"WindowConfig.width must be >= 1 wordpiece, got {self.width}")
        if not 0.0 <= self.shift < 1.0:
            raise ValueError(f"WindowConfig.shift must be in [0, 1), got {self.shift}")
        if self.windows is not None and self.windows < 1:
            raise ValueError(f"WindowConfig.windows must be >= 1 window per question, got {self.windows}")

    def resolved(self, with_scorer: bool) -> WindowConfig:
        """This config with ``width`` and ``allocation`` settled for use with or without a scorer (a ``windows``
        budget needs global allocation)."""
        width = self.width or (SCORER_WIDTH if with_scorer else RULE_WIDTH)
        allocation = self.allocation if self.allocation != "auto" else ("global" if with_scorer else "per_passage")
        if self.windows is not None and allocation != "global":
            raise ValueError(f"WindowConfig.windows={self.windows} sets the budget of global allocation, but "
                             f"allocation is '{allocation}' (one window per passage). Fix: pass a window scorer "
                             "with allocation 'global' or 'auto', or leave windows=None")
        return replace(self, width=width, allocation=allocation)


def question_keys(question: TokenStates) -> torch.Tensor:
    """The question's content-wordpiece states ``(q, d)``; all of them when every one is a stop word."""
    rows = [i for i, t in enumerate(question.tokens) if t.lower() not in STOP_WORDS]
    return question.states[rows] if rows else question.states


def maxsim_scores(passage: TokenStates, keys: torch.Tensor) -> torch.Tensor:
    """The untrained rule's score per passage wordpiece ``(L,)``: its best cosine with the question ``keys``."""
    n = passage.states.shape[0]
    return (passage.states @ keys.T).max(dim=1).values if keys.shape[0] else passage.states.new_zeros(n)


def window_start(scores: torch.Tensor, width: int, shift: float) -> int:
    """First wordpiece of the ``width``-long window with the highest summed ``scores`` ``(L,)``, shifted."""
    n = scores.shape[0]
    if n <= width:
        return 0
    best = int(torch.argmax(window_masses(scores.float(), width)))
    return min(best + int(shift * width), n - width)


def window_span(scores: torch.Tensor, config: WindowConfig, shift: float | None = None) -> tuple[int, int]:
    """``[start, end)`` wordpiece range of the window with the highest summed ``scores`` ``(L,)``, moved
    forward by ``shift`` (default ``config.shift``) times the width; all of a short passage."""
    width = config.width or RULE_WIDTH
    n = scores.shape[0]
    if n <= width:
        return 0, n
    start = window_start(scores, width, config.shift if shift is None else shift)
    return start, start + width


def window_chars(text: str, passage: TokenStates, span: tuple[int, int]) -> tuple[int, int]:
    """``[start, end)`` characters of ``text`` covering wordpieces ``span`` of ``passage`` (all of it if the span
    covers every wordpiece)."""
    start, end = span
    if start == 0 and end >= passage.states.shape[0]:
        return 0, len(text)
    return int(passage.spans[start][0]), int(passage.spans[end - 1][1])


def cut_window(text: str, passage: TokenStates, span: tuple[int, int]) -> str:
    """The substring of ``text`` covering wordpieces ``[start, end)`` of ``passage`` (``text`` if it is all)."""
    start, end = window_chars(text, passage, span)
    return text[start:end]


def cut_windows(text: str, passage: TokenStates, spans: Sequence[tuple[int, int]]) -> str:
    """The passage's windows as one string, joined by `` … `` in passage order ("" when it has none)."""
    return WINDOW_JOINER.join(cut_window(text, passage, span) for span in sorted(spans))


def window_spans(questions: Sequence[TokenStates], passages: Sequence[Sequence[TokenStates]],
                 config: WindowConfig, scorer: WindowScorer | None = None) -> list[list[list[tuple[int, int]]]]:
    """The selected ``[start, end)`` windows of every passage (nested like ``passages``, a list per passage).

    Without ``scorer``: one window per passage by max-sim against the question's content wordpieces, shifted by
    ``config.shift``. With one: its answer probabilities, unshifted (it already says where the answer is);
    ``config.allocation == "global"`` spreads the same number of windows across the passages by joint answer
    mass (:mod:`rag.window_allocation`), so a passage may get none or several.
    """
    config = config.resolved(with_scorer=scorer is not None)
    if scorer is None:
        if config.allocation == "global":
            raise ValueError("window allocation 'global' compares passages by a trained scorer's answer logits: "
                             "pass a window scorer, or use allocation='per_passage'")
        return [[[window_span(maxsim_scores(p, question_keys(q)), config)] for p in ps]
                for q, ps in zip(questions, passages)]
    pairs = [(q, p) for q, ps in zip(questions, passages) for p in ps]
    logits = iter(scorer.answer_logits([q for q, _ in pairs], [p for _, p in pairs]))
    per_question = [[next(logits) for _ in ps] for ps in passages]
    if config.allocation == "global":
        return [allocate_windows(xs, config.width, config.windows) for xs in per_question]
    return [[[window_span(torch.softmax(x, 0), config, shift=0.0)] for x in xs] for xs in per_question]


@dataclass
class Window:
    """One selected window: wordpieces ``span`` ``[start, end)`` of the question's passage number ``passage``,
    its ``text``, its wordpieces' projector inputs ``states`` ``(end - start, d_in)`` (what ``compressed`` reads) and
    their character ``offsets`` ``(end - start, 2)`` in ``text``."""

    passage: int
    span: tuple[int, int]
    text: str
    states: torch.Tensor
    offsets: np.ndarray


def make_window(passage: int, text: str, states: TokenStates, span: tuple[int, int]) -> Window:
    """Window ``span`` of a passage's ``text`` whose wordpieces are ``states``."""
    a, b = span
    start, end = window_chars(text, states, span)
    return Window(passage, span, text[start:end], states.projector_input[a:b], states.spans[a:b] - start)


def passage_windows(texts: Sequence[str], states: Sequence[TokenStates],
                    spans: Sequence[Sequence[tuple[int, int]]]) -> list[Window]:
    """One question's windows in passage order, then position order (``spans`` as :func:`window_spans` gives)."""
    return [make_window(i, text, p, span) for i, (text, p, ss) in enumerate(zip(texts, states, spans))
            for span in sorted(ss)]


def selected_windows(embedder: Any, questions: Sequence[str], passages: Sequence[Sequence[str]],
                     config: WindowConfig | None = None, scorer: WindowScorer | None = None,
                     layers: str = LAST_LAYER) -> list[list[Window]]:
    """For each question, the windows of its passages (see :func:`window_spans`), with their wordpiece states
    (every layer's with ``layers="all"``)."""
    config = config or WindowConfig()
    if len(questions) != len(passages):
        raise ValueError(f"got {len(questions)} questions but {len(passages)} passage lists")
    texts = [text for texts in passages for text in texts]
    flat = iter(token_states(embedder, texts, config.max_length, layers))
    states = [[next(flat) for _ in texts] for texts in passages]
    return windows_of_states(embedder, questions, passages, states, config, scorer)


def windows_of_states(embedder: Any, questions: Sequence[str], passages: Sequence[Sequence[str]],
                      states: Sequence[Sequence[TokenStates]], config: WindowConfig,
                      scorer: WindowScorer | None = None) -> list[list[Window]]:
    """:func:`selected_windows` for passages whose wordpiece ``states`` (nested like ``passages``) are already
    computed, e.g. once per distinct passage of a training set."""
    spans = window_spans(token_states(embedder, questions, config.max_length), states, config, scorer)
    return [passage_windows(texts, ps, per) for texts, ps, per in zip(passages, states, spans)]


def select_windows(embedder: Any, questions: Sequence[str], passages: Sequence[Sequence[str]],
                   config: WindowConfig | None = None, scorer: WindowScorer | None = None) -> list[list[str]]:
    """For each question, its passages cut to their question-aware windows (same order and nesting; "" for a
    passage that gets no window under global allocation, windows of one passage joined by `` … ``);
    ``scorer``: a trained :class:`~rag.window_scorer.WindowScorer` instead of the max-sim rule."""
    windows = selected_windows(embedder, questions, passages, config, scorer)
    return [[WINDOW_JOINER.join(w.text for w in ws if w.passage == i) for i in range(len(texts))]
            for texts, ws in zip(passages, windows)]
