from eval.metrics import has_answer
from projector.cloze import BLANK, blank_spans, cloze_question, cloze_records

SENTENCE = "In 1066 the Norman army of William the Conqueror crossed the Channel, (briefly) landing at Pevensey Bay."


def test_spans_by_kind_skip_the_opening_word_and_punctuated_words():
    words = SENTENCE.split()
    spans = blank_spans(words)
    # a name run stops at a punctuated word: "Pevensey" is blanked without "Bay."
    assert [" ".join(words[s:e]) for s, e in spans["name"]] == ["Norman", "William", "Conqueror", "Pevensey"]
    assert [" ".join(words[s:e]) for s, e in spans["number"]] == ["1066"]
    # "Channel," "(briefly)" and "Bay." carry punctuation; "In" opens the sentence
    assert [words[s] for s, _ in spans["word"]] == ["crossed", "landing"]


def test_a_cloze_question_is_its_sentence_with_the_answer_blanked():
    words = "The Eiffel Tower in Paris was finished in 1889 for the world fair".split()
    question, answer = cloze_question(words, (1, 3), context_words=20)
    assert answer == "Eiffel Tower" and question.count(BLANK) == 1
    assert question.split('"')[1].replace(BLANK, answer) == " ".join(words)
    question, _ = cloze_question(words, (8, 9), context_words=2)
    assert question.split('"')[1] == f"finished in {BLANK} for the"


def test_records_are_seeded_one_per_passage_and_answered_by_their_context():
    passages = [{"id": str(i), "title": f"T{i}", "text": f"Short one. Station {i} opened in {1900 + i} beside the "
                 f"old harbour of Kiel, serving fishermen and traders."} for i in range(20)]
    passages.append({"id": "x", "title": "Tx", "text": "Too short to blank. Nothing here."})
    records = cloze_records(passages, n=15, seed=3)
    assert len(records) == 15 and len({r.context for r in records}) == 15
    assert all(has_answer(r.context, r.answers) and BLANK in r.question for r in records)
    assert all(r.title == next(p["title"] for p in passages if p["text"] == r.context) for r in records)
    assert [r.question for r in cloze_records(passages, n=15, seed=3)] == [r.question for r in records]
    assert [r.question for r in cloze_records(passages, n=15, seed=4)] != [r.question for r in records]
    assert len(cloze_records(passages, n=100)) == 20  # the passage with no sentence of 8 words gives none
