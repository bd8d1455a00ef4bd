from eval.metrics import has_answer
from projector.answer_windows import answer_span, with_answer_window
from rag.selection import make_window
from rag.token_states import token_states

TEXTS = ["Berlin is the capital of Germany and its largest city by far.",
         "The Eiffel Tower in Paris was completed in 1889 for the World's Fair held that year."]


def test_an_answer_span_is_width_wordpieces_around_the_answer(tiny_embedder):
    (states,) = token_states(tiny_embedder, TEXTS[1:])
    for answer, width in [("1889", 4), ("the eiffel tower", 3), ("World's Fair held that year.", 5)]:
        start, end = answer_span(TEXTS[1], states, answer, width)
        window = make_window(1, TEXTS[1], states, (start, end))
        assert answer.lower() in window.text.lower()  # found case-insensitively, never cut
        assert end - start == max(width, end - start) and 0 <= start and end <= len(states.tokens)
    assert answer_span(TEXTS[1], states, "1890", 4) is None
    (short,) = token_states(tiny_embedder, TEXTS[1:], max_length=6)  # past the wordpieces read
    assert answer_span(TEXTS[1], short, "1889", 4) is None


def test_the_last_window_is_swapped_for_one_around_the_answer(tiny_embedder):
    states = token_states(tiny_embedder, TEXTS)
    windows = [make_window(0, TEXTS[0], states[0], (0, 3)), make_window(1, TEXTS[1], states[1], (0, 3))]
    swapped, answer = with_answer_window(windows, TEXTS, states, ["in 1890", "1889"], width=3)
    assert answer == "1889" and has_answer(" ".join(w.text for w in swapped), [answer])
    assert len(swapped) == 2 and swapped[0] is windows[0] and swapped[1].passage == 1
    # a window of the answer's passage that overlaps the new one is dropped instead, so no text is read twice
    near = make_window(1, TEXTS[1], states[1], answer_span(TEXTS[1], states[1], "1889", 3))
    swapped, _ = with_answer_window([windows[0], near], TEXTS, states, ["1889"], width=3)
    assert [w.span for w in swapped] == [windows[0].span, near.span]
    assert with_answer_window(windows, TEXTS, states, ["Rome"], width=3) is None
