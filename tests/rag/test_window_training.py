import json

import numpy as np
import pytest
import torch

from eval.records import QARecord
from rag.token_states import TokenStates
from rag.window_scorer import WindowScorer
from rag.window_training import (
    ScorerExample,
    WindowTrainConfig,
    answer_char_spans,
    batch_logits,
    batch_loss,
    build_examples,
    collate,
    new_scorer,
    target_wordpieces,
    train_scorer,
)


def test_answer_spans_are_found_on_word_boundaries():
    context = "In 1861 the piers fell; by 18612 nobody cared. The Piers were rebuilt."
    assert answer_char_spans(context, ["1861"]) == [(3, 7)]
    assert answer_char_spans(context, ["the piers", " "]) == [(8, 17), (47, 56)]
    assert answer_char_spans(context, ["absent"]) == []


def test_target_wordpieces_overlap_the_answer():
    spans = np.array([[0, 3], [4, 9], [9, 12], [13, 18]])  # "The harbo|ur was" style split
    passage = TokenStates(torch.zeros(4, 2), spans, ["the", "harbo", "##ur", "built"])
    assert target_wordpieces(passage, [(4, 12)]) == [1, 2]
    assert target_wordpieces(passage, [(10, 11), (13, 14)]) == [2, 3]


@pytest.fixture(scope="module")
def examples(tiny_embedder, tiny_corpus_records):
    records = []
    for r in tiny_corpus_records[:12]:
        answer = r["text"].rstrip(".").split()[-1]  # the last word of each made-up fact
        records.append(QARecord(id=r["id"], question=f"What about {r['title']}?", answers=[answer],
                                context=r["text"], title=r["title"]))
    records.append(QARecord(id="none", question="Where?", answers=["nowhere"], context="A b c.", title="x"))
    return build_examples(tiny_embedder, records, progress=False)


def test_examples_drop_records_without_the_answer_in_the_context(examples):
    assert len(examples) == 12
    for e in examples:
        words = [e.text[s:t] for s, t in e.passage.spans[e.targets]]
        assert words and "".join(words).lower() in e.answers[0].lower()


def test_one_step_lowers_the_loss_on_a_fixed_batch(tiny_embedder, examples):
    scorer = new_scorer(tiny_embedder, hidden=16, rank=8, kernel=5, dropout=0.0)
    batch = collate(examples)
    before = batch_loss(scorer, batch)
    optimizer = torch.optim.SGD(scorer.parameters(), lr=0.1)
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = batch_loss(scorer, batch)
    assert after < before


def _weights(scorer: WindowScorer) -> dict:
    return {k: v.clone() for k, v in scorer.state_dict().items()}


def test_training_resumes_to_the_same_state(tmp_path, tiny_embedder, examples):
    config = WindowTrainConfig(epochs=2, batch_size=4, warmup_steps=2)

    def fresh() -> WindowScorer:
        return new_scorer(tiny_embedder, hidden=16, rank=8, kernel=5)

    straight = fresh()
    history = train_scorer(straight, examples, examples[:4], config, tmp_path / "a", progress=False)
    assert [h["epoch"] for h in history] == [1, 2]
    # the same run stopped after epoch 1 and started again
    first = train_scorer(fresh(), examples, examples[:4], config, tmp_path / "b", progress=False, stop_after=1)
    assert len(first) == 1
    resumed = fresh()
    train_scorer(resumed, examples, examples[:4], config, tmp_path / "b", progress=False)
    for k, v in _weights(straight).items():
        assert torch.allclose(v, resumed.state_dict()[k], atol=1e-6), k
    assert json.loads((tmp_path / "b" / "history.json").read_text())[-1]["epoch"] == 2
    with pytest.raises(ValueError, match="same settings"):  # another schedule cannot continue this run
        train_scorer(fresh(), examples, examples[:4], WindowTrainConfig(epochs=3, batch_size=4, warmup_steps=2),
                     tmp_path / "b", progress=False)


def test_distractors_share_one_softmax_with_the_gold_context(tiny_embedder, tiny_corpus_records):
    records = [QARecord(id=f"q{i}", question=f"What about {r['title']}?", answers=[r["text"].split()[-1].rstrip(".")],
                        context=r["text"], title="one article") for i, r in enumerate(tiny_corpus_records[:5])]
    examples = build_examples(tiny_embedder, records, progress=False, negatives=2)
    assert {len(e.others) for e in examples} == {2}
    batch = collate(examples[:3])
    assert batch["passage"].shape[0] == 3 * 3 and int(batch["group"]) == 3
    scorer = new_scorer(tiny_embedder, hidden=16, rank=8, kernel=5, dropout=0.0).eval()
    logits = batch_logits(scorer, batch)
    assert logits.shape == (3, 3 * batch["passage"].shape[1])
    # with the distractors' answer-free wordpieces in the softmax, the gold answer gets less mass
    alone = collate([ScorerExample(e.question, e.passage, e.targets, e.answers, e.text) for e in examples[:3]])
    with torch.no_grad():
        assert batch_loss(scorer, batch) > batch_loss(scorer, alone)
