"""Alignment text chosen to cover the embedder's vocabulary: mined sentences and spelled-out numbers.

A ``reader_tokens`` projector learns each embedder wordpiece's reader tokens from the alignment text, and how well
it reads a wordpiece follows how often that wordpiece occurred there. Measured for the projector shipped on
2026-11-25 on the validation paragraphs (``docs/experiments/wordpiece_coverage.py``; docs/results.md, "Covering the
embedder's vocabulary"): nearest-token fidelity 0.16 for reader tokens whose wordpiece never occurred in its
alignment text, 0.54 seen once or twice, 0.74 seen 3-29 times, 0.92 seen 30+ times; for digits 0.54 / 0.63 / 0.85 /
0.97. MiniLM keeps 881 numbers ("1775") as single wordpieces that SmolLM2 spells digit by digit, and a year must
have all four digits right to be answered.

Two remedies that cost no LLM forward pass (alignment reads only the embedder and the reader's embedding table):

- :func:`coverage_sentences`: from a pool of candidate texts (the bundled summaries not already aligned on), the
  sentences that hold a wordpiece the alignment text has shown fewer than ``min_count`` times, greedily, so each
  rare wordpiece is seen in natural, correctly cased context.
- :func:`number_texts`: every all-digit whole wordpiece of the embedder, in short templates, plus random longer
  numbers (which cut into the ``##``-digit pieces), so every number the embedder has a wordpiece for is spelled.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# Where numbers stand in encyclopaedic text: years, counts, ranges, amounts. "{n}" is the number shown, "{m}" another.
NUMBER_TEMPLATES = (
    "{n}", "in {n}", "In {n}, the", "from {n} to {m}", "{n} people", "about {n} years", "the {n} census",
    "({n})", "between {m} and {n}", "{n} km", "${n}", "{n}–{m}", "founded in {n}", "since {n},",
)


def sentences(texts: Iterable[str], min_chars: int = 20, max_chars: int = 400) -> list[str]:
    """The sentences of ``texts`` (split after ``.``, ``!`` or ``?``), keeping those of ``min_chars`` to ``max_chars``
    characters: short enough for one embedder pass, long enough to give a wordpiece context."""
    return [s for text in texts for s in SENTENCE_END.split(text.strip()) if min_chars <= len(s) <= max_chars]


def coverage_sentences(tokenizer: Any, aligned: Sequence[str], candidates: Sequence[str],
                       min_count: int) -> list[str]:
    """Sentences of ``candidates`` (in order) that each hold at least one wordpiece of ``tokenizer`` (the
    embedder's) seen fewer than ``min_count`` times so far in ``aligned`` plus the sentences already taken."""
    seen = Counter(w for text in aligned for w in tokenizer.tokenize(text))
    taken = []
    for sentence in sentences(candidates):
        pieces = tokenizer.tokenize(sentence)
        if any(seen[w] < min_count for w in pieces):
            taken.append(sentence)
            seen.update(pieces)
    return taken


def number_wordpieces(tokenizer: Any) -> list[str]:
    """The embedder's whole-word wordpieces made of digits only ("1775", "42"), in vocabulary order."""
    return [w for w, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1]) if w.isdigit()]


def random_number(rng: random.Random) -> str:
    """A number as text writes them: 3-7 digits, with or without thousands commas, or a decimal."""
    value = rng.randrange(100, 10 ** rng.randint(3, 7))
    form = rng.random()
    if form < 0.3:
        return f"{value:,}"
    if form < 0.5:
        return f"{value / 10 ** rng.randint(1, 2):.{rng.randint(1, 2)}f}"
    return str(value)


def number_texts(tokenizer: Any, per_number: int = 4, random_numbers: int = 5000, seed: int = 0) -> list[str]:
    """``per_number`` texts for each of :func:`number_wordpieces` (templates drawn at random, another number
    beside it where the template has one), then ``random_numbers`` texts around :func:`random_number`."""
    rng = random.Random(seed)
    texts = []
    for number in number_wordpieces(tokenizer):
        for template in rng.sample(NUMBER_TEMPLATES, min(per_number, len(NUMBER_TEMPLATES))):
            texts.append(template.format(n=number, m=random_number(rng)))
    for _ in range(random_numbers):
        texts.append(rng.choice(NUMBER_TEMPLATES).format(n=random_number(rng), m=random_number(rng)))
    return texts
