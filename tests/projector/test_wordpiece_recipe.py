import json
from dataclasses import asdict, replace

import pytest
import torch
from recipe_commands import comparable, parsed_recipe, reproduce_block
from tiny_llm import make_tiny_llm

from projector.alignment import AlignConfig
from projector.model import Projector
from projector.window_distill import DistillConfig
from projector.wordpiece_recipe import WordpieceRecipeConfig, run_wordpiece_recipe

FACTS = [("Paris", "France"), ("Berlin", "Germany"), ("Madrid", "Spain"), ("Rome", "Italy"), ("Oslo", "Norway"),
         ("Vienna", "Austria")]


def _squad_file(path):
    """Three articles of two one-sentence paragraphs; each question's answer is in its paragraph."""
    data = []
    for a in range(3):
        paragraphs = []
        for j, (city, country) in enumerate(FACTS[a * 2:a * 2 + 2]):
            context = f"{city} is the capital of {country}."
            paragraphs.append({"context": context, "qas": [{
                "id": f"{a}-{j}", "question": f"Which city is the capital of {country}?",
                "answers": [{"text": city, "answer_start": 0}]}]})
        data.append({"title": f"Article_{a}", "paragraphs": paragraphs})
    path.write_text(json.dumps({"version": "1.1", "data": data}))
    return path


def _assert_reproduces(command: str, config: WordpieceRecipeConfig) -> None:
    """The card's command, parsed by the CLI, sets up the run it was written for (where it starts from aside)."""
    parsed, continued = parsed_recipe(command), config.init_from is not None
    assert (parsed["init_from"] is not None) == continued
    assert comparable(parsed, continued) == comparable(asdict(config), continued)


def _distill_tables(card: str) -> list[str]:
    """The model card's distillation tables, in order (this run's first, then each earlier step's)."""
    section = card.split("## 2. QA distillation")[1].split("## Reproduce")[0]
    return ["\n".join(line for line in block.splitlines() if line.startswith("|"))
            for block in section.split("\n\n") if block.startswith("| step |")]


@pytest.fixture
def tiny_llm_dir(tmp_path):
    llm = make_tiny_llm("llama")
    llm.model.save_pretrained(tmp_path / "llm")
    llm.tokenizer.save_pretrained(tmp_path / "llm")
    return tmp_path / "llm"


@pytest.mark.parametrize("encoding,layers,lexicon,vocabulary_weight,cloze,gold,split,kl_weight",
                         [("wordpieces", "last", False, 0.0, 5, True, False, 2.0),
                          ("reader_tokens", "all", True, 1.0, 0, False, True, 0.0)])
def test_recipe_aligns_distils_and_ships_a_loadable_projector(tmp_path, tiny_llm_dir, tiny_embedder_dir,
                                                              monkeypatch, encoding, layers, lexicon,
                                                              vocabulary_weight, cloze, gold, split, kl_weight):
    monkeypatch.setenv("SQUEEZERAG_CACHE", str(tmp_path / "cache"))  # the dataset indexes go here
    config = WordpieceRecipeConfig(
        dataset=str(_squad_file(tmp_path / "squad.json")), val_articles=("Article_1",), held_out=("Article_2",),
        embedder=str(tiny_embedder_dir), llm=str(tiny_llm_dir), window_scorer=None, hidden=16, demo_passages=0,
        k=2, window_width=1000, encoding=encoding, token_layers=layers, lexicon=lexicon, numbers=lexicon,
        coverage_min_count=2 if lexicon else 0, cloze=cloze, gold_passage=gold, answer_windows=gold,
        split_at_wordpieces=split, align=AlignConfig(epochs=2, batch_size=8, vocabulary_weight=vocabulary_weight),
        distill=DistillConfig(steps=2, batch_size=2, checkpoint_every=1, warmup=1, val_questions=2,
                              kl_weight=kl_weight))
    monkeypatch.setattr("rag.demo_index.default_window_scorer_dir", lambda: None)  # the max-sim rule's windows
    summaries = [{"text": "Zebras graze. Zebras graze on the wide plain today. Zebras graze on the wide plain today."}]
    if cloze:  # one summary with a sentence long enough to cut a cloze question from (coverage is off here)
        summaries.append({"id": "z", "title": "Zebra",
                          "text": "Zebras graze on the wide plains of Kenya in 2020 and sleep standing up."})
    monkeypatch.setattr("rag.defaults.load_demo_corpus", lambda limit=None: summaries[:limit])
    final = run_wordpiece_recipe(config, tmp_path / "run", progress=False)
    projector = Projector.from_pretrained(final)
    training = projector.config.training
    assert projector.config.memory_encoding == encoding and projector.config.tokens_per_vector == 1
    # coverage: the two long sentences show their unseen words twice; the short one is too short to take
    assert training["alignment"].get("coverage_sentences", 0) == (2 if lexicon else 0)
    from indexer import load_embedder
    from rag.token_states import projector_input_dim

    assert projector.config.token_layers == layers and projector.config.split_at_wordpieces == split
    assert projector.config.d_embed == projector_input_dim(load_embedder(str(tiny_embedder_dir)), layers)
    # the one long summary sentence gives one cloze question (k=2 over a one-passage index), and its windows hold it
    assert training["questions"] == {"train": 2, "train_with_answer_in_windows": 2, "train_answer_windows": 0,
                                     "train_teacher_targets": 0, "validation": 2,
                                     "cloze": int(bool(cloze)), "cloze_with_answer_in_windows": int(bool(cloze))}
    assert len(training["alignment"]["history"]) == 2 and [h["step"] for h in training["history"]] == [1, 2]
    # without a KL weight no teacher runs in training, and validation still measures the KL to it
    assert all(("kl" in h) == bool(kl_weight) and "val_kl" in h for h in training["history"])
    from projector.lexicon import lexicon_texts
    from rag.llm import LLM

    words = len(lexicon_texts(LLM.load(str(tiny_llm_dir)).tokenizer)) if lexicon else 0
    assert training["alignment"]["lexicon_words"] == words
    from projector.coverage import number_texts

    numbers = len(number_texts(load_embedder(str(tiny_embedder_dir)).tokenizer)) if lexicon else 0
    assert training["alignment"]["number_texts"] == numbers and numbers > (5000 if lexicon else -1)
    card = (final / "README.md").read_text()
    assert "Article_1" in card and f"--encoding {encoding}" in card and f"--token-layers {layers}" in card
    assert (f"--cloze {cloze} " in card) == ("cloze questions about bundled summaries" in card) == bool(cloze)
    assert ("--gold-passage " in card) == ("reads it in place of the last retrieved one" in card) == gold
    assert ("--answer-windows " in card) == ("through a window around the answer" in card) == gold
    assert ("--split-at-wordpieces " in card) == ("one embedder wordpiece at a time" in card) == split
    assert ("--lexicon" in card) == lexicon and ("--numbers" in card) == ("--coverage 2" in card) == lexicon
    reproduced = "--align-vocabulary-weight 1.0 --align-temperature 0.05" in card
    assert reproduced == ("| vocabulary cross-entropy |" in card) == bool(vocabulary_weight)
    assert training["distill_environment"]["device"] == "cpu" and "Distilled on cpu with the LLM in" in card
    assert " val accuracy |" in card and "(accuracy: the greedy answer holds it)" in card
    assert ("NLL of that answer alone" in card) == ("--kl-weight 0.0" in card) == (not kl_weight)
    # continuing from it skips alignment and says so on the card (reader tokens: with reading distillation;
    # wordpieces: a reading prompt trained alone)
    reading = 1.0 if encoding == "reader_tokens" else 0.0
    prompt = 0 if reading else 2
    more_distill = DistillConfig(steps=1, batch_size=2, val_questions=2, lr=1e-2, warmup=1, reading_weight=reading,
                                 freeze_projector=bool(prompt), prompt_lr=0.02 if prompt else None,
                                 copy_bias=2.0 if reading else 0.0)
    teacher = "all" if reading else ""
    more = run_wordpiece_recipe(
        WordpieceRecipeConfig(**{**vars(config), "init_from": str(final), "reading_prompt": prompt,
                                 "teacher_targets": teacher, "distill": more_distill}),
        tmp_path / "more", progress=False)
    assert not (tmp_path / "more" / "aligned").exists()
    card = (more / "README.md").read_text()
    cached = tmp_path / "more" / "teacher_answers.json"
    assert cached.exists() == bool(teacher)  # the teacher's answers, generated once for a resumed run to reuse
    answered = sum(bool(a.strip()) for a in json.loads(cached.read_text())["answers"]) if teacher else 0
    assert Projector.from_pretrained(more).config.training["questions"]["train_teacher_targets"] == answered
    assert ("--teacher-targets all" in card) == ("own greedy answer from the windows as text" in card) == bool(teacher)
    # the card reproduces from scratch: the first projector's line into runs/<encoding>-1, then this run's from it
    first, own = reproduce_block(card)[1::2]
    assert f"Continued from `{final}` (step 1 under Reproduce;" in card and f"# 1. {final}" in card
    assert "--init-from" not in first
    _assert_reproduces(first, config)
    assert f"--out runs/{encoding}-1 " in first and f"--out runs/{encoding} " in own
    assert f"--init-from runs/{encoding}-1/final" in own
    # ... and shows the first projector's distillation curve under this run's, as that projector's card did
    assert _distill_tables(card)[1:] == _distill_tables((final / "README.md").read_text())
    assert f"Step 1 under Reproduce (`{final}`):" in card
    assert ("--reading-weight 1.0" in card) == ("val reading KL |" in card) == bool(reading)
    assert ("--copy-bias 2.0" in card) == ("use it with `--copy-bias 2.0`" in card) == bool(reading)
    assert ("--reading-prompt 2 --freeze-projector --prompt-lr 0.02" in card) == ("Reading prompt: 2 learned" in card) \
        == ("lr 0.02 (the projector's" in card) == bool(prompt)
    assert "--align-epochs" not in own and "--lexicon" not in own  # alignment is skipped, so are its flags
    assert ("started from the embeddings of a short instruction" in card) == bool(prompt)
    before = dict(Projector.from_pretrained(final).state_dict())
    after = Projector.from_pretrained(more).state_dict()
    changed = {k for k, v in after.items() if k not in before or not torch.equal(v, before[k])}
    assert changed and (changed == {"reading_prompt"}) == bool(prompt)
    if prompt:  # continuing a projector that has a prompt trains that prompt further (here with its last row moved
        # after the windows, and the projector widened to merge two tokens per soft token), and the card says so
        again_config = WordpieceRecipeConfig(**{**vars(config), "init_from": str(more), "reading_prompt": prompt,
                                                "closing_prompt": 1, "merge_tokens": 2, "reader_adapter": 2,
                                                "adapter_targets": ("q_proj", "down_proj"), "adapter_dropout": 0.1,
                                                "distill": replace(more_distill, seed=2, freeze_projector=False,
                                                                   adapter_lr=0.05, kl_weight=0.5)})
        again = run_wordpiece_recipe(again_config, tmp_path / "again", progress=False)
        loaded = Projector.from_pretrained(again)
        assert loaded.config.merge_tokens == 2 and loaded.config.reader_adapter["rank"] == 2
        assert any(d.up.weight.abs().sum() > 0 for d in loaded.reader_adapter.deltas.values())  # it trained
        card = (again / "README.md").read_text()
        assert "merged into one soft token" in card and "--merge-tokens 2" in card
        assert {n.rsplit(".", 1)[-1] for n in loaded.config.reader_adapter["modules"]} == {"q_proj", "down_proj"}
        assert "Reader adapter: rank-2 deltas (alpha 4, dropout 0.1 in training)" in card and "(down_proj, q_proj)" in card
        assert "--reader-adapter 2 --adapter-targets down_proj q_proj --adapter-dropout 0.1 --adapter-lr 0.05" in card
        assert "continued from that projector's trained prompt" in card and "short instruction" not in card
        steps = reproduce_block(card)
        assert steps[::2] == [f"# 1. {final}", f"# 2. {more}", "# 3. this projector"]
        assert steps[1] == first and f"--out runs/{encoding}-2 " in steps[3] and "-1/final" in steps[3]
        assert "-2/final" in steps[5] and f"--reading-prompt {prompt} --closing-prompt 1" in steps[5]
        assert "--closing-prompt" not in steps[3] and "(1 before the first window, 1 after the last)" in card
        assert steps[5].endswith(" --seed 2") and "--seed" not in steps[3]  # a seed other than 0 is part of the run
        assert "--kl-weight 0.5" in steps[5] and "--kl-weight" not in steps[3]  # xRAG's 2 unless set
        _assert_reproduces(steps[5], again_config)
        assert _distill_tables(card)[1:] == _distill_tables((more / "README.md").read_text())
        assert card.index("Step 2 under Reproduce") < card.index("Step 1 under Reproduce")


@pytest.mark.parametrize("field,value", [("encoding", "pooled"), ("token_layers", "first")])
def test_a_bad_recipe_setting_is_refused_before_anything_loads(field, value):
    with pytest.raises(ValueError, match=f"{field} must be one of"):
        WordpieceRecipeConfig(dataset="unused.json", **{field: value})


def test_reading_distillation_is_refused_for_wordpieces():
    with pytest.raises(ValueError, match="needs --encoding reader_tokens"):
        WordpieceRecipeConfig(dataset="unused.json", encoding="wordpieces", distill=DistillConfig(reading_weight=1.0))


@pytest.mark.parametrize("overrides,needle", [
    ({"reading_prompt": 4, "distill": DistillConfig(freeze_projector=True)}, "--init-from"),
    ({"init_from": "p", "distill": DistillConfig(freeze_projector=True)}, "--reading-prompt N or --reader-adapter"),
    ({"reader_adapter": 4, "distill": DistillConfig(freeze_projector=True)}, "--init-from"),
    ({"distill": DistillConfig(prompt_lr=3e-3)}, "--prompt-lr is the reading prompt's"),
    ({"reading_prompt": 4, "closing_prompt": 5}, "--closing-prompt 5 and --answer-prompt 0 move"),
    ({"reading_prompt": 4, "closing_prompt": 2, "answer_prompt": 3}, "together no more than it"),
    ({"merge_tokens": 2}, "pass --init-from"),
    ({"distill": DistillConfig(adapter_lr=1e-3)}, "--adapter-lr is the reader adapter's"),
    ({"reader_adapter": -1}, "rank is >= 1"),
    ({"adapter_targets": ("gate_proj",)}, "--adapter-targets and --adapter-dropout set up the reader adapter"),
    ({"adapter_dropout": 0.1}, "--adapter-targets and --adapter-dropout set up the reader adapter"),
    ({"reader_adapter": 4, "adapter_dropout": 1.0}, r"--adapter-dropout 1.0: a probability in \[0, 1\)"),
    ({"merge_tokens": 2, "init_from": "p", "distill": DistillConfig(reading_weight=1.0)}, "--merge-tokens, not both"),
])
def test_reading_prompt_settings_that_cannot_work_are_refused(overrides, needle):
    with pytest.raises(ValueError, match=needle):
        WordpieceRecipeConfig(dataset="unused.json", encoding="reader_tokens", **overrides)


def test_an_adapter_alone_may_train_on_a_frozen_projector():
    config = WordpieceRecipeConfig(dataset="unused.json", encoding="reader_tokens", reader_adapter=4, init_from="p",
                                   distill=DistillConfig(freeze_projector=True))
    assert config.distill.freeze_projector and not config.reading_prompt
