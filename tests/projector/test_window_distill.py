import json
from dataclasses import replace

import pytest
import torch
from tiny_projector import make_projector

from eval.metrics import normalize_answer
from eval.records import QARecord
from indexer.hit import Hit
from projector.answer_windows import with_gold_passage
from projector.checkpoint import STATE_FILE
from projector.config import READER_TOKENS, WORDPIECES
from projector.losses import target_logits
from projector.window_distill import (
    DistillConfig,
    distill,
    distill_loss,
    greedy_answers,
    validation_accuracy,
    window_examples,
)
from rag.selection import WindowConfig

PASSAGES = ["The Eiffel Tower was completed in 1889 in Paris.", "Berlin is the capital of Germany.",
            "The quick brown fox jumps over the lazy dog."]


@pytest.fixture
def examples(tiny_embedder):
    records = [QARecord(str(i), q, [a]) for i, (q, a) in enumerate([
        ("When was the Eiffel Tower completed?", "1889"), ("What is the capital of Germany?", "Berlin"),
        ("What does the fox jump over?", "the lazy dog"), ("Who painted the Mona Lisa?", "Leonardo")])]
    hits = [[Hit(str(j), "", t) for j, t in enumerate(PASSAGES)]] * len(records)
    return window_examples(tiny_embedder, None, records, hits, WindowConfig(width=1000), progress=False)


def test_gold_passage_replaces_the_last_hit_only_where_retrieval_missed_it(tiny_embedder):
    hits = [Hit(str(j), "", t) for j, t in enumerate(PASSAGES[1:])]
    gold = QARecord("q", "When was the Eiffel Tower completed?", ["1889"], context=PASSAGES[0], title="Eiffel")
    found = QARecord("r", "What is the capital of Germany?", ["Berlin"], context=PASSAGES[1])
    chunked = QARecord("s", "What does the fox jump over?", ["the dog"], context=PASSAGES[2] + " Then it sleeps.")
    no_context = QARecord("t", "Who painted the Mona Lisa?", ["Leonardo"])
    out = with_gold_passage([gold, found, chunked, no_context], [hits] * 4)
    assert [h.text for h in out[0]] == [PASSAGES[1], PASSAGES[0]] and out[0][0] == hits[0]
    assert out[1] == out[2] == out[3] == hits  # already there (a chunk of it counts), or nothing to add
    # the question the windows missed now keeps its gold answer in them
    assert [e.answer for e in window_examples(tiny_embedder, None, [gold], out[:1], WindowConfig(width=1000),
                                              progress=False)] == ["1889"]


def test_answer_windows_keep_the_questions_their_windows_missed(tiny_embedder):
    records = [QARecord(str(i), q, [a]) for i, (q, a) in enumerate([
        ("When was the Eiffel Tower completed?", "1889"), ("What is the capital of Germany?", "Berlin"),
        ("What does the fox jump over?", "the lazy dog"), ("Who painted the Mona Lisa?", "Leonardo")])]
    hits = [[Hit(str(j), "", t) for j, t in enumerate(PASSAGES)]] * len(records)
    narrow = WindowConfig(width=1, allocation="per_passage")
    plain = window_examples(tiny_embedder, None, records, hits, narrow, progress=False)
    swapped = window_examples(tiny_embedder, None, records, hits, narrow, progress=False, answer_windows=True)
    assert len(plain) < 3 and len(swapped) == 3  # only the answer no passage holds is dropped
    assert {e.question for e in plain} < {e.question for e in swapped}
    for e in swapped:
        assert e.answer_window == (e.question not in {p.question for p in plain})
        assert e.answer.lower() in " ".join(w.text for w in e.windows).lower() and len(e.windows) == len(PASSAGES)


def _projector(llm, embedder, encoding=WORDPIECES):
    torch.manual_seed(0)
    extra = {"max_pieces": 4} if encoding == READER_TOKENS else {}
    return make_projector(llm, d_embed=embedder.token_dim, tokens_per_vector=1, memory_encoding=encoding, **extra)


def test_examples_keep_the_questions_whose_windows_hold_the_answer(examples, tiny_embedder):
    from rag.token_states import token_states

    assert [e.answer for e in examples] == ["1889", "Berlin", "the lazy dog"]  # no Mona Lisa in the passages
    lengths = [len(t.tokens) for t in token_states(tiny_embedder, PASSAGES)]
    for e in examples:
        assert [w.text for w in e.windows] == PASSAGES  # windows wider than the passages: all of each, in order
        assert [w.states.shape for w in e.windows] == [(n, tiny_embedder.token_dim) for n in lengths]


@pytest.mark.parametrize("encoding", [WORDPIECES, READER_TOKENS])
def test_one_step_lowers_the_loss_on_a_fixed_batch(examples, tiny_llm, tiny_embedder, encoding):
    projector = _projector(tiny_llm, tiny_embedder, encoding)
    config = DistillConfig(lr=1e-2)
    loss, parts = distill_loss(tiny_llm, projector, examples, config)
    assert parts["kl"] >= 0 and parts["loss"] == pytest.approx(parts["nll"] + config.kl_weight * parts["kl"])
    optimizer = torch.optim.SGD(projector.parameters(), lr=1e-2)
    loss.backward()
    optimizer.step()
    assert distill_loss(tiny_llm, projector, examples, config)[0].item() < loss.item()
    assert all(p.grad is None for p in tiny_llm.model.parameters())  # the LLM never trains


def test_without_kl_weight_training_skips_the_teacher_and_validation_still_measures_it(examples, tiny_llm,
                                                                                      tiny_embedder):
    projector = _projector(tiny_llm, tiny_embedder, READER_TOKENS)
    calls = []
    hook = tiny_llm.model.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        with_kl = distill_loss(tiny_llm, projector, examples, DistillConfig(kl_weight=2.0))[1]
        n_with = len(calls)
        without = distill_loss(tiny_llm, projector, examples, DistillConfig(kl_weight=0.0))[1]
        n_without = len(calls) - n_with
        projector.eval()
        measured = distill_loss(tiny_llm, projector, examples, DistillConfig(kl_weight=0.0))[1]
    finally:
        hook.remove()
    assert n_without == n_with - 1  # the student alone: no teacher forward
    assert "kl" not in without and without["loss"] == without["nll"] == pytest.approx(with_kl["nll"])
    assert measured["kl"] == pytest.approx(with_kl["kl"]) and measured["loss"] == measured["nll"]


def test_distillation_resumes_to_the_same_state(examples, tiny_llm, tiny_embedder, tmp_path):
    config = DistillConfig(steps=4, batch_size=2, checkpoint_every=2, warmup=1, val_questions=2)
    straight = _projector(tiny_llm, tiny_embedder)
    distill(straight, tiny_llm, examples, examples[:2], config, tmp_path / "a", progress=False)
    parted = _projector(tiny_llm, tiny_embedder)
    distill(parted, tiny_llm, examples, examples[:2], config, tmp_path / "b", progress=False, until=2)
    resumed = _projector(tiny_llm, tiny_embedder)
    history = distill(resumed, tiny_llm, examples, examples[:2], config, tmp_path / "b", progress=False)
    assert [h["step"] for h in history] == [1, 2, 3, 4] and "val_nll" in history[1]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="other distillation settings"):
        distill(resumed, tiny_llm, examples, [], DistillConfig(steps=8, batch_size=2), tmp_path / "b", progress=False)
    # a checkpoint written before a setting existed resumes as if it had that setting's default
    state_file = tmp_path / "b" / "checkpoint" / STATE_FILE
    meta = json.loads(state_file.read_text())
    del meta["trainer"]["config"]["prompt_lr"]
    state_file.write_text(json.dumps(meta))
    assert len(distill(_projector(tiny_llm, tiny_embedder), tiny_llm, examples, examples[:2], config, tmp_path / "b",
                       progress=False)) == 4


def test_reading_loss_is_zero_when_soft_tokens_are_the_exact_tokens(examples, tiny_llm, tiny_embedder):
    """The exact-token twin is the student's prompt itself when the projector writes the exact embeddings."""
    from projector import reading_distill
    from rag import prompt as P

    projector = _projector(tiny_llm, tiny_embedder, READER_TOKENS)
    exact = [reading_distill.exact_twin_tokens(tiny_llm, projector, e.windows) for e in examples]
    sizes = [[int(x.token_ids.numel()) for x in reading_distill.window_reader_inputs(
        projector.config, e.windows, tiny_llm.tokenizer)] for e in examples]
    prompts = [P.encode_prompt(tiny_llm, P.soft_windows_message(e.question, n), target=e.answer)
               for e, n in zip(examples, sizes)]
    n_read = reading_distill.reading_span(prompts)
    with torch.no_grad():
        logits = target_logits(tiny_llm, P.assemble(tiny_llm, prompts, exact), n_read)
    mask = reading_distill.reading_mask(prompts, n_read)
    # over the whole vocabulary (a top-k teacher is renormalised, so its KL has a floor of -log top-k mass)
    kl = reading_distill.reading_kl(logits, logits, mask, top_k=logits.shape[-1])
    assert kl.item() == pytest.approx(0.0, abs=1e-5)
    # the mask starts at each row's first soft token and runs to the end: one row reaches back all the way
    assert mask[:, -1].all() and mask[:, 0].any()
    assert [int(m.sum()) for m in mask] == [len(p.ids) - p.soft_positions[0] - 1 for p in prompts]


def test_reading_distillation_step_lowers_the_reading_loss(examples, tiny_llm, tiny_embedder):
    projector = _projector(tiny_llm, tiny_embedder, READER_TOKENS)
    config = DistillConfig(reading_weight=1.0)
    loss, parts = distill_loss(tiny_llm, projector, examples, config)
    assert parts["loss"] == pytest.approx(parts["nll"] + config.kl_weight * parts["kl"] + parts["reading"], rel=1e-5)
    optimizer = torch.optim.SGD(projector.parameters(), lr=1e-2)
    loss.backward()
    optimizer.step()
    assert distill_loss(tiny_llm, projector, examples, config)[1]["reading"] < parts["reading"]


def test_reading_with_a_prompt_and_adapter_compares_with_the_llm_as_loaded(examples, tiny_llm, tiny_embedder,
                                                                           monkeypatch):
    """The twin keeps the reading prompt's rows and is read without the adapter: soft windows that are the exact
    tokens read at zero reading loss while the adapter is a no-op, and above zero once it changes the reader."""
    import projector.model as model
    from projector import reading_distill
    from projector.reader_adapter import reader_adapter_spec

    torch.manual_seed(0)
    projector = make_projector(tiny_llm, d_embed=tiny_embedder.token_dim, tokens_per_vector=1,
                               memory_encoding=READER_TOKENS, max_pieces=4, reading_prompt=4, closing_prompt=1,
                               answer_prompt=1, reader_adapter=reader_adapter_spec(tiny_llm.model, 2))
    windows = examples[0].windows
    soft, sizes = model.window_soft_tokens(projector, windows, tiny_llm.tokenizer)
    twin = reading_distill.exact_twin_tokens(tiny_llm, projector, windows)
    prompt, n_windows = projector.reading_prompt, len(soft) - 4
    assert twin.shape == soft.shape
    assert torch.equal(twin[:2], prompt[:2]) and torch.equal(twin[-2:], prompt[2:])  # the same layout
    ids = torch.cat([x.token_ids for x in model.window_reader_inputs(projector.config, windows, tiny_llm.tokenizer)])
    assert torch.equal(twin[2:2 + n_windows], tiny_llm.embed(ids))

    def exact_windows(projector, windows, tokenizer):
        inputs = model.window_reader_inputs(projector.config, windows, tokenizer)
        exact = tiny_llm.embed(torch.cat([x.token_ids for x in inputs]))
        return model.with_reading_prompt(projector, exact, [len(x.token_ids) for x in inputs])

    monkeypatch.setattr(model, "window_soft_tokens", exact_windows)
    config = DistillConfig(reading_weight=1.0, top_k=tiny_llm.model.config.vocab_size)
    with torch.no_grad():
        assert distill_loss(tiny_llm, projector, examples, config)[1]["reading"] == pytest.approx(0.0, abs=1e-5)
        for p in projector.reader_adapter.parameters():
            p.normal_(std=0.5)
        assert distill_loss(tiny_llm, projector, examples, config)[1]["reading"] > 1e-3
    # the loss starts at the first window token: the two prompt rows in front are skipped
    prompts = [model.soft_window_prompt(projector, tiny_llm, e.question, e.windows, e.answer)[0] for e in examples]
    n_read = reading_distill.reading_span(prompts, skip=2)
    mask = reading_distill.reading_mask(prompts, n_read, skip=2)
    assert [int(m.sum()) for m in mask] == [len(p.ids) - p.soft_positions[2] - 1 for p in prompts]


def test_reading_distillation_refuses_a_wordpieces_projector(examples, tiny_llm, tiny_embedder):
    with pytest.raises(ValueError, match="reader_tokens"):
        distill_loss(tiny_llm, _projector(tiny_llm, tiny_embedder), examples, DistillConfig(reading_weight=1.0))


def test_freezing_the_projector_trains_the_reading_prompt_alone(examples, tiny_llm, tiny_embedder, tmp_path):
    torch.manual_seed(0)
    projector = make_projector(tiny_llm, d_embed=tiny_embedder.token_dim, tokens_per_vector=1,
                               memory_encoding=WORDPIECES, reading_prompt=2)
    before = {k: v.clone() for k, v in projector.state_dict().items()}
    config = DistillConfig(steps=2, batch_size=2, warmup=1, lr=1e-2, freeze_projector=True, val_questions=0)
    distill(projector, tiny_llm, examples, [], config, tmp_path, progress=False)
    changed = {k for k, v in projector.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"reading_prompt"}
    assert all(p.requires_grad for p in projector.parameters())  # frozen for that run only
    with pytest.raises(ValueError, match="reading prompt"):
        distill(_projector(tiny_llm, tiny_embedder), tiny_llm, examples, [], config, tmp_path / "b", progress=False)


@pytest.mark.parametrize("lr,prompt_lr", [(1e-2, 0.0), (0.0, 1e-2)])
def test_the_reading_prompt_trains_at_its_own_rate_beside_the_projector(examples, tiny_llm, tiny_embedder, tmp_path,
                                                                        lr, prompt_lr):
    torch.manual_seed(0)
    projector = make_projector(tiny_llm, d_embed=tiny_embedder.token_dim, tokens_per_vector=1,
                               memory_encoding=WORDPIECES, reading_prompt=2)
    before = {k: v.clone() for k, v in projector.state_dict().items()}
    config = DistillConfig(steps=2, batch_size=2, warmup=1, lr=lr, prompt_lr=prompt_lr, val_questions=0)
    distill(projector, tiny_llm, examples, [], config, tmp_path, progress=False)
    changed = {k for k, v in projector.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and (changed == {"reading_prompt"}) == (lr == 0.0) and ("reading_prompt" in changed) == bool(prompt_lr)
    with pytest.raises(ValueError, match="no reading prompt"):
        distill(_projector(tiny_llm, tiny_embedder), tiny_llm, examples, [], config, tmp_path / "b", progress=False)


def test_validation_accuracy_counts_greedy_answers_holding_the_gold_one(examples, tiny_llm, tiny_embedder, tmp_path):
    projector = _projector(tiny_llm, tiny_embedder)
    one_by_one = greedy_answers(tiny_llm, projector, examples, batch_size=1)
    assert greedy_answers(tiny_llm, projector, examples, batch_size=len(examples)) == one_by_one  # padding-free
    config = DistillConfig(batch_size=3)
    answered = [replace(e, answer=text, aliases=()) for e, text in zip(examples, one_by_one) if normalize_answer(text)]
    assert answered and validation_accuracy(tiny_llm, projector, answered, config) == {"val_acc": 1.0}
    assert all(e.aliases == (e.answer,) for e in examples)  # window_examples keeps every gold alias
    missed = [replace(e, answer="zyzzyva quokka", aliases=()) for e in examples]
    assert validation_accuracy(tiny_llm, projector, missed, config) == {"val_acc": 0.0}
    by_alias = [replace(e, answer="zyzzyva quokka", aliases=("zyzzyva quokka", e.answer)) for e in answered]
    assert validation_accuracy(tiny_llm, projector, by_alias, config) == {"val_acc": 1.0}  # any alias counts
    history = distill(projector, tiny_llm, examples, examples[:2],
                      DistillConfig(steps=2, batch_size=2, checkpoint_every=1, warmup=1), tmp_path, progress=False)
    assert all(0.0 <= h["val_acc"] <= 1.0 for h in history)  # logged at every checkpoint


def test_training_with_a_copy_bias_answers_and_scores_the_answer_with_it(examples, tiny_llm, tiny_embedder):
    """Every answer here is in its windows, so leaning hard on the window text's tokens lowers its NLL, and the
    validation answers are generated with the same lean."""
    projector = _projector(tiny_llm, tiny_embedder, READER_TOKENS)
    plain = distill_loss(tiny_llm, projector, examples, DistillConfig())[1]
    biased = distill_loss(tiny_llm, projector, examples, DistillConfig(copy_bias=1e3))[1]
    assert biased["nll"] < plain["nll"] - 1.0 and torch.isfinite(torch.tensor(biased["kl"]))
    leaning = greedy_answers(tiny_llm, projector, examples, 3, copy_bias=1e3)
    assert leaning != greedy_answers(tiny_llm, projector, examples, 3)


@pytest.mark.parametrize("freeze", [False, True])
def test_a_reader_adapter_trains_at_its_own_rate_and_the_llm_stays_as_loaded(examples, tiny_llm, tiny_embedder,
                                                                              tmp_path, freeze):
    from projector.reader_adapter import reader_adapter_spec

    torch.manual_seed(0)
    projector = make_projector(tiny_llm, d_embed=tiny_embedder.token_dim, tokens_per_vector=1,
                               memory_encoding=WORDPIECES, reader_adapter=reader_adapter_spec(tiny_llm.model, 2))
    before = {k: v.clone() for k, v in projector.state_dict().items()}
    llm_before = {k: v.clone() for k, v in tiny_llm.model.state_dict().items()}
    config = DistillConfig(steps=2, batch_size=2, warmup=1, lr=0.0 if not freeze else 1e-2, adapter_lr=1e-2,
                           freeze_projector=freeze, val_questions=0)
    distill(projector, tiny_llm, examples, [], config, tmp_path, progress=False)
    changed = {k for k, v in projector.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("reader_adapter.") for k in changed)
    assert all(torch.equal(v, llm_before[k]) for k, v in tiny_llm.model.state_dict().items())
    # the student reads with the trained adapter: the same projector without it has another loss
    with torch.no_grad():
        adapted = distill_loss(tiny_llm, projector, examples, config)[1]["loss"]
        projector.reader_adapter, adapter = None, projector.reader_adapter
        assert distill_loss(tiny_llm, projector, examples, config)[1]["loss"] != pytest.approx(adapted, abs=1e-6)
    projector.reader_adapter = adapter
    with pytest.raises(ValueError, match="reader adapter"):
        distill(_projector(tiny_llm, tiny_embedder), tiny_llm, examples, [], config, tmp_path / "b", progress=False)
