"""The reader's vocabulary as alignment text: every whole-word token, read alone, aligned to its own embedding.

A window projector learns a lexicon (this embedder state -> that reader token) from the text it is aligned on,
and it only learns the words it has seen: measured on the validation paragraphs (README, "The reader's
vocabulary as alignment text"), token fidelity falls from 0.9 for tokens seen 100+ times in the alignment text
to almost nothing for tokens seen under 3 times, and the topic words of an unseen article are exactly those.
Adding each whole word of the reader's vocabulary once, as a one-word text, shows the projector every word at no
LLM cost (alignment needs only the embedder and the LLM's embedding table).
"""

from __future__ import annotations

import re
from typing import Any

_WORD = re.compile(r" [A-Za-z0-9]+")


def lexicon_texts(tokenizer: Any) -> list[str]:
    """The reader's whole-word tokens as one-word texts, in vocabulary order: each decodes to a space then letters
    or digits, and encodes alone back to exactly itself (31,586 of SmolLM2's 49,152 tokens)."""
    texts = []
    for token_id in range(len(tokenizer)):
        text = tokenizer.convert_tokens_to_string([tokenizer.convert_ids_to_tokens(token_id)])
        if _WORD.fullmatch(text) and tokenizer(text, add_special_tokens=False).input_ids == [token_id]:
            texts.append(text)
    return texts
