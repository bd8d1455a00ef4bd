import random
import re
from collections import Counter

from projector.coverage import (
    NUMBER_TEMPLATES,
    coverage_sentences,
    number_texts,
    number_wordpieces,
    random_number,
    sentences,
)


class WordTokenizer:
    """The two methods coverage needs, over whitespace words and a fixed vocabulary."""

    def __init__(self, vocab: list[str]) -> None:
        self.vocab = {w: i for i, w in enumerate(vocab)}

    def tokenize(self, text: str) -> list[str]:
        return text.split()

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)


def test_sentences_split_after_end_marks_and_drop_the_too_short_and_too_long():
    text = "The first sentence is long enough. Short one! " + "x" * 500 + ". Is the last one kept too?"
    assert sentences([text]) == ["The first sentence is long enough.", "Is the last one kept too?"]


def test_coverage_takes_exactly_the_sentences_that_show_a_rare_wordpiece():
    aligned = ["common words here and there is a common text."] * 3
    candidates = ["common words here and there is a common text.",  # nothing rare: never taken
                  "a rare name appears in this sentence.", "the rare name appears once more here.",
                  "and the rare name for a third time now."]
    taken = coverage_sentences(WordTokenizer([]), aligned, candidates, min_count=2)
    # 'rare' was unseen: the first two of its sentences bring it to 2; the third adds other unseen words
    # ('third', 'time', 'now.') and is taken for them, not for 'rare'
    assert taken == candidates[1:]
    assert coverage_sentences(WordTokenizer([]), aligned + candidates, candidates, min_count=1) == []
    # every wordpiece is seen as often as the candidates allow, up to min_count
    seen = Counter(w for text in aligned + taken for w in text.split())
    available = Counter(w for text in aligned + candidates for w in text.split())
    assert all(seen[w] >= min(2, available[w]) for w in available)


def test_number_wordpieces_are_the_all_digit_whole_words_in_vocabulary_order():
    tok = WordTokenizer(["[CLS]", "42", "##5", "abc", "1775", "1,000", "x1"])
    assert number_wordpieces(tok) == ["42", "1775"]


def test_number_texts_spell_every_number_wordpiece_and_are_reproducible():
    tok = WordTokenizer(["[CLS]", "42", "1775", "abc"])
    texts = number_texts(tok, per_number=3, random_numbers=50, seed=1)
    assert len(texts) == 2 * 3 + 50
    assert sum("1775" in t for t in texts[:6]) >= 3 and sum("42" in t for t in texts[:6]) >= 3
    assert texts == number_texts(tok, per_number=3, random_numbers=50, seed=1)
    assert texts != number_texts(tok, per_number=3, random_numbers=50, seed=2)
    shapes = {re.sub(r"[\d.,]+", "N", t) for t in texts}
    allowed = {re.sub(r"\{[nm]\}", "N", t) for t in NUMBER_TEMPLATES}
    assert shapes <= allowed | {s.replace("N,", "N") for s in allowed}


def test_random_numbers_are_numbers_as_text_writes_them():
    rng = random.Random(0)
    for _ in range(200):
        number = random_number(rng)
        assert re.fullmatch(r"\d{1,3}(,\d{3})+|\d+(\.\d{1,2})?", number), number
