"""Cloze questions about corpus passages: extra stage-2 data whose answer is an exact span of the passage.

The window projector's gap to perfect reader tokens is about which words come back (docs/results.md, "Which tokens decide"):
half of it is a digit or a name read as a neighbour, the rest a reader that does not copy what it was given. SQuAD
gives 2,426 training questions whose windows hold their answer; a cloze question can be cut from any sentence of
any passage, so the bundled summaries give thousands more, each one a copy task from the soft tokens: a sentence
with one span blanked out, answered by that span. The blanked span is a name, a number or a content word (the
kind drawn first, uniformly over the kinds the passage has, so numbers are not drowned by words).

Unlike the teacher-answered template questions that hurt ``segments:8`` (docs/results.md, "Stage-2 data sources"), the target
is the passage's own words, not the 135M teacher's guess.

Measured 2026-12-03 (docs/results.md, "Cloze questions as more distillation data"): 2,263 cloze questions mixed into the
2,426 SQuAD ones at the shipped 300 steps lowered accuracy by 0.016 over both held-out sets (95% interval -0.026 to
-0.006); the answers drift towards the cloze task's shape. No shipped projector uses them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from eval.records import QARecord
from projector.coverage import SENTENCE_END

_NUMBER = re.compile(r"\d(?:[\d,.]*\d)?")
_NAME = re.compile(r"[A-Z][\w'’-]*")
_WORD = re.compile(r"[a-z][a-z-]{4,}")
BLANK = "___"
CLOZE_TEMPLATE = 'Fill in the blank: "{sentence}"'
KINDS = ("name", "number", "word")


def sentence_words(text: str) -> list[list[str]]:
    """The passage's sentences as whitespace-split words."""
    return [s.split() for s in SENTENCE_END.split(text.strip()) if s.strip()]


def blank_spans(words: Sequence[str]) -> dict[str, list[tuple[int, int]]]:
    """Candidate spans ``[start, end)`` of ``words`` by kind: runs of capitalised words not opening the sentence
    (``name``), numbers (``number``), lower-case words of five letters or more (``word``). Punctuation around a word
    keeps it out, so the blank never swallows a comma or a bracket."""
    spans: dict[str, list[tuple[int, int]]] = {kind: [] for kind in KINDS}
    i = 1  # the sentence's first word is capitalised whatever it is
    while i < len(words):
        if _NAME.fullmatch(words[i]):
            j = i + 1
            while j < len(words) and _NAME.fullmatch(words[j]):
                j += 1
            spans["name"].append((i, j))
            i = j
            continue
        if _NUMBER.fullmatch(words[i]):
            spans["number"].append((i, i + 1))
        elif _WORD.fullmatch(words[i]):
            spans["word"].append((i, i + 1))
        i += 1
    return spans


def cloze_question(words: Sequence[str], span: tuple[int, int], context_words: int = 12) -> tuple[str, str]:
    """``(question, answer)``: up to ``context_words`` words either side of ``span``, the span replaced by a blank."""
    start, end = span
    left = words[max(start - context_words, 0):start]
    right = words[end:end + context_words]
    return CLOZE_TEMPLATE.format(sentence=" ".join([*left, BLANK, *right])), " ".join(words[start:end])


def cloze_records(passages: Sequence[dict], n: int, seed: int = 0, min_words: int = 8) -> list[QARecord]:
    """Up to ``n`` cloze questions, one per passage (``{id, title, text}``) drawn at random: a kind drawn uniformly
    among those the passage's sentences of at least ``min_words`` words hold, then a span of that kind. Each
    record's context is its passage, so ``eval.dataset_index`` can retrieve over them like over SQuAD paragraphs;
    ``title`` is the passage's."""
    rng = random.Random(seed)
    order = list(range(len(passages)))
    rng.shuffle(order)
    records = []
    for row in order:
        if len(records) >= n:
            break
        passage = passages[row]
        by_kind: dict[str, list[tuple[list[str], tuple[int, int]]]] = {kind: [] for kind in KINDS}
        for words in sentence_words(passage["text"]):
            if len(words) >= min_words:
                for kind, found in blank_spans(words).items():
                    by_kind[kind] += [(words, span) for span in found]
        kinds = [kind for kind in KINDS if by_kind[kind]]
        if not kinds:
            continue
        words, span = rng.choice(by_kind[rng.choice(kinds)])
        question, answer = cloze_question(words, span)
        records.append(QARecord(id=f"cloze-{passage['id']}", question=question, answers=[answer],
                                context=passage["text"], title=passage["title"]))
    return records
