import pytest
import torch
from tiny_projector import make_projector

from projector import Projector
from rag.errors import ProjectorMismatchError


def test_shapes_and_norm(tiny_llm):
    proj = make_projector(tiny_llm)
    out = proj(torch.randn(3, 2, 16))
    assert out.shape == (3, 2 * 2, tiny_llm.hidden_size)
    torch.testing.assert_close(out.norm(dim=-1), torch.full((3, 4), tiny_llm.embedding_norm), rtol=1e-4, atol=1e-4)


def test_save_load_round_trip_is_bit_exact(tiny_llm, tmp_path):
    proj = make_projector(tiny_llm)
    proj.save_pretrained(tmp_path / "p")
    again = Projector.from_pretrained(tmp_path / "p")
    assert again.config == proj.config
    for (k, a), (_, b) in zip(proj.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    x = torch.randn(2, 2, 16)
    assert torch.equal(proj.eval()(x), again(x))
    assert proj.fingerprint() == again.fingerprint()


def test_a_reader_tokens_projector_needs_pieces_and_they_change_its_output(tiny_llm, tmp_path):
    from projector.config import READER_TOKENS

    torch.manual_seed(0)
    proj = make_projector(tiny_llm, tokens_per_vector=1, memory_encoding=READER_TOKENS, max_pieces=4).eval()
    x = torch.randn(2, 3, 16)
    with pytest.raises(ValueError, match="pieces"):
        proj(x)
    with pytest.raises(ValueError, match="pieces"):
        make_projector(tiny_llm)(x, torch.zeros(2, 3, dtype=torch.long))
    torch.nn.init.normal_(proj.piece_embedding.weight)
    first, second = torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.long)
    assert not torch.allclose(proj(x, first), proj(x, second))
    proj.save_pretrained(tmp_path / "p")
    assert torch.equal(Projector.from_pretrained(tmp_path / "p")(x, second), proj(x, second))


@pytest.mark.parametrize("overrides,needle", [
    ({"memory_encoding": "wordpieces"}, "tokens_per_vector=1"),
    ({"memory_encoding": "reader_tokens", "tokens_per_vector": 1}, "max_pieces"),
    ({"memory_encoding": "wordpieces", "tokens_per_vector": 1, "token_layers": "first"}, "token_layers must be"),
    ({"memory_encoding": "pooled", "token_layers": "all"}, "window encodings"),
    ({"memory_encoding": "wordpieces", "tokens_per_vector": 1, "read_case": True}, "read_case"),
    ({"memory_encoding": "wordpieces", "tokens_per_vector": 1, "split_at_wordpieces": True}, "split_at_wordpieces"),
    ({"memory_encoding": "segments:2", "reading_prompt": 4}, "reading prompt"),
    ({"memory_encoding": "wordpieces", "tokens_per_vector": 1, "reading_prompt": -1}, "reading prompt"),
    ({"memory_encoding": "wordpieces", "tokens_per_vector": 1, "reading_prompt": 2, "closing_prompt": 3},
     "together <= reading_prompt=2"),
    ({"memory_encoding": "wordpieces", "tokens_per_vector": 1, "reading_prompt": 4, "closing_prompt": 2,
      "answer_prompt": 3}, "together <= reading_prompt=4"),
    ({"memory_encoding": "wordpieces", "tokens_per_vector": 1, "reading_prompt": 4, "answer_prompt": -1}, ">= 0"),
    ({"memory_encoding": "wordpieces", "tokens_per_vector": 1, "merge_tokens": 0}, "merge_tokens=0"),
    ({"memory_encoding": "pooled", "merge_tokens": 2}, "only for window encodings"),
])
def test_window_encodings_refuse_settings_they_cannot_use(tiny_llm, overrides, needle):
    with pytest.raises(ValueError, match=needle):
        make_projector(tiny_llm, **overrides)


@pytest.mark.parametrize("field,value,needle", [
    ("embedder_id", "other-embedder", "embedder"),
    ("llm_id", "other-llm", "LLM"),
    ("memory_encoding", "pooled", "add-memory"),
])
def test_mismatched_projector_is_refused_naming_both(tiny_llm, field, value, needle):
    proj = make_projector(tiny_llm, **{field: value})
    with pytest.raises(ProjectorMismatchError) as err:
        proj.check_compatible("tiny-embedder", 16, tiny_llm.id, tiny_llm.hidden_size, ["segments:2"])
    assert needle in str(err.value) and value in str(err.value)


def test_matching_projector_is_accepted(tiny_llm):
    make_projector(tiny_llm).check_compatible("tiny-embedder", 16, tiny_llm.id, tiny_llm.hidden_size, ["segments:2"])


def test_init_from_saved_projector_or_checkpoint_copies_weights(tiny_llm, table, examples, tmp_path):
    from projector.train import TrainConfig, Trainer

    source = make_projector(tiny_llm)
    source.save_pretrained(tmp_path / "p")
    fresh = make_projector(tiny_llm)
    fresh.load_weights_from(tmp_path / "p")
    assert fresh.fingerprint() == source.fingerprint()

    trainer = Trainer(source, tiny_llm, table, examples, TrainConfig(batch_size=4, max_steps=1), tmp_path / "run")
    trainer.fit(progress=False)
    from_ckpt = make_projector(tiny_llm)
    from_ckpt.load_weights_from(tmp_path / "run" / "checkpoint")
    assert from_ckpt.fingerprint() == source.fingerprint()


def test_init_from_other_shape_is_refused(tiny_llm, tmp_path):
    make_projector(tiny_llm, hidden=64).save_pretrained(tmp_path / "p")
    with pytest.raises(ProjectorMismatchError, match="shapes differ"):
        make_projector(tiny_llm).load_weights_from(tmp_path / "p")
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        make_projector(tiny_llm).load_weights_from(tmp_path)


def _window(text: str, n_states: int):
    import numpy as np

    from rag.selection import Window

    return Window(passage=0, span=(0, n_states), text=text, states=torch.randn(n_states, 16),
                  offsets=np.array([[i, i + 1] for i in range(n_states)]))


def test_a_reading_prompt_comes_before_the_first_window_and_counts_in_its_block(tiny_llm, tmp_path):
    from projector.model import window_soft_tokens

    torch.manual_seed(0)
    windows = [_window("abc", 3), _window("de", 2)]
    plain = make_projector(tiny_llm, tokens_per_vector=1, memory_encoding="wordpieces").eval()
    plain.save_pretrained(tmp_path / "plain")
    prompted = make_projector(tiny_llm, tokens_per_vector=1, memory_encoding="wordpieces", reading_prompt=4).eval()
    with pytest.raises(ProjectorMismatchError, match="keys"):  # a saved projector loads strictly
        prompted.load_weights_from(tmp_path / "plain")
    start = tiny_llm.embed(torch.tensor([5, 6, 7])).float()
    prompted.init_reading_prompt(start)
    prompted.load_weights_from(tmp_path / "plain", continuing=True)  # keeps the prompt's own start
    torch.testing.assert_close(prompted.reading_prompt.detach(), torch.cat([start, start[:1]]))

    soft, sizes = window_soft_tokens(plain, windows)
    with_prompt, prompted_sizes = window_soft_tokens(prompted, windows)
    assert sizes == [3, 2] and prompted_sizes == [3 + 4, 2]
    assert torch.equal(with_prompt, torch.cat([prompted.reading_prompt, soft]))
    prompted.save_pretrained(tmp_path / "prompted")
    again = Projector.from_pretrained(tmp_path / "prompted")
    assert torch.equal(again.reading_prompt, prompted.reading_prompt) and again.config.reading_prompt == 4


def _prompt_moved(tiny_llm, tmp_path, **layout) -> tuple[Projector, Projector]:
    """A projector with a 4-token reading prompt all in front, and one with the same weights laid out as ``layout``
    says: only where the prompt is written differs."""
    torch.manual_seed(0)
    opening = make_projector(tiny_llm, tokens_per_vector=1, memory_encoding="wordpieces", reading_prompt=4).eval()
    opening.save_pretrained(tmp_path / "opening")
    moved = make_projector(tiny_llm, tokens_per_vector=1, memory_encoding="wordpieces", reading_prompt=4,
                           **layout).eval()
    moved.load_weights_from(tmp_path / "opening")
    moved.save_pretrained(tmp_path / "moved")
    assert Projector.from_pretrained(tmp_path / "moved").config == moved.config
    return opening, moved


def test_a_closing_prompt_moves_the_prompts_last_rows_after_the_last_window(tiny_llm, tmp_path):
    from projector.model import window_soft_tokens

    windows = [_window("abc", 3), _window("de", 2)]
    opening, closing = _prompt_moved(tiny_llm, tmp_path, closing_prompt=3)
    prompt = closing.reading_prompt

    front, front_sizes = window_soft_tokens(opening, windows)
    around, around_sizes = window_soft_tokens(closing, windows)
    assert front_sizes == [3 + 4, 2] and around_sizes == [3 + 1, 2 + 3]
    soft = front[4:]
    assert torch.equal(around, torch.cat([prompt[:1], soft, prompt[1:]]))
    one, one_size = window_soft_tokens(closing, windows[:1])  # one window holds both ends
    soft_one = window_soft_tokens(opening, windows[:1])[0][4:]
    assert one_size == [1 + 3 + 3] and torch.equal(one, torch.cat([prompt[:1], soft_one, prompt[1:]]))


def test_an_answer_prompt_writes_the_prompts_last_rows_after_the_question(tiny_llm, tmp_path):
    from projector.model import soft_window_prompt, window_soft_tokens
    from rag.prompt import SOFT_MARKER, encode_prompt, soft_windows_message

    windows = [_window("abc", 3), _window("de", 2)]
    opening, split = _prompt_moved(tiny_llm, tmp_path, closing_prompt=1, answer_prompt=2)
    prompt, soft = split.reading_prompt, window_soft_tokens(opening, windows)[0][4:]

    rows, sizes = window_soft_tokens(split, windows)
    assert sizes == [1 + 3, 2 + 1]  # the answer prompt's 2 rows belong to no window
    assert torch.equal(rows, torch.cat([prompt[:1], soft, prompt[1:]]))
    encoded, written = soft_window_prompt(split, tiny_llm, "Who?", windows)
    assert torch.equal(written, rows) and encoded.n_soft == len(rows) == sum(sizes) + 2
    message = soft_windows_message("Who?", sizes, after_question=2)
    assert encoded == encode_prompt(tiny_llm, message)
    assert message.count(SOFT_MARKER, message.index("Who?")) == 2  # the last two, after the question
    assert soft_windows_message("Who?", sizes) == message[:message.rindex("\n")]  # else the usual message


def test_a_merging_projector_writes_one_soft_token_per_group_of_a_windows_tokens(tiny_llm, tmp_path):
    from projector.model import window_soft_tokens

    torch.manual_seed(0)
    windows = [_window("abc", 3), _window("de", 2)]
    single = make_projector(tiny_llm, tokens_per_vector=1, memory_encoding="wordpieces", reading_prompt=4).eval()
    single.save_pretrained(tmp_path / "single")
    merging = make_projector(tiny_llm, tokens_per_vector=1, memory_encoding="wordpieces", reading_prompt=4,
                             merge_tokens=2).eval()
    merging.load_weights_from(tmp_path / "single")  # widened: a group starts from the mean of its inputs
    merging.save_pretrained(tmp_path / "merging")
    assert Projector.from_pretrained(tmp_path / "merging").config.merge_tokens == 2

    rows, sizes = window_soft_tokens(merging, windows)
    assert sizes == [4 + 2, 1] and len(rows) == 4 + 2 + 1  # ceil(3 / 2) and ceil(2 / 2); groups stay in a window
    assert torch.equal(rows[:4], single.reading_prompt)
    twice = torch.randn(1, 3, 16)
    torch.testing.assert_close(merging(twice.repeat_interleave(2, dim=1)), single(twice))  # a pair of one token
    with pytest.raises(ValueError, match="multiple of merge_tokens"):
        merging(torch.randn(1, 3, 16))


def test_token_alignment_refuses_a_merging_projector(tiny_llm):
    from projector.alignment import soft_rows

    merging = make_projector(tiny_llm, tokens_per_vector=1, memory_encoding="wordpieces", merge_tokens=2)
    with pytest.raises(ValueError, match="one soft token per token"):
        soft_rows(merging, None)
