import torch

from rag import prompt as P


def test_generation_from_embeds_equals_hf_generate_from_ids(tiny_llm_any):
    llm = tiny_llm_any
    text = llm.chat_text(P.qa_message("Who wrote Hamlet?", ["William Shakespeare wrote it."]))
    ids = llm.tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids
    ref = llm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False,
                             min_new_tokens=8, pad_token_id=llm.tokenizer.pad_token_id)[0, ids.shape[1]:]
    gen = llm.generate_from_embeds(llm.embed(ids), torch.ones_like(ids), max_new_tokens=8, ignore_eos=True)
    assert gen.token_ids[0] == ref.tolist()
    assert gen.new_tokens == [8]
    assert 0 < gen.ttft_s <= gen.total_s


def test_left_padded_batch_matches_single_generation(tiny_llm_any):
    llm = tiny_llm_any
    msgs = [P.qa_message("Who?", None), P.qa_message("What is the capital of France, really?", ["Paris."])]
    prompts = [P.encode_prompt(llm, m) for m in msgs]
    batch = P.assemble(llm, prompts)
    both = llm.generate_from_embeds(batch.inputs_embeds, batch.attention_mask, 6, ignore_eos=True)
    for i, p in enumerate(prompts):
        one = P.assemble(llm, [p])
        single = llm.generate_from_embeds(one.inputs_embeds, one.attention_mask, 6, ignore_eos=True)
        assert single.token_ids[0] == both.token_ids[i]


def test_zero_soft_tokens_gives_text_only_logits(tiny_llm_any):
    llm = tiny_llm_any
    msg = P.qa_message("Where is the Eiffel Tower?", ["The Eiffel Tower is in Paris."])
    enc = P.encode_prompt(llm, msg)
    batch = P.assemble(llm, [enc], soft=[torch.zeros(0, llm.hidden_size)])
    ids = llm.tokenizer(llm.chat_text(msg, system=P.SYSTEM), return_tensors="pt", add_special_tokens=False).input_ids
    assert enc.ids == ids[0].tolist()
    with torch.no_grad():
        ref = llm.model(input_ids=ids).logits
        got = P.forward_logits(llm, batch)
    torch.testing.assert_close(got, ref, rtol=0, atol=0)


def test_soft_tokens_land_on_placeholders_and_carry_gradients(tiny_llm):
    llm = tiny_llm
    msgs = [P.qa_message("q one?", [P.soft_block(3)]), P.qa_message("a longer question two?", [P.soft_block(2)] * 2)]
    prompts = [P.encode_prompt(llm, m, target="an answer") for m in msgs]
    assert [p.n_soft for p in prompts] == [3, 4]
    soft = [torch.randn(3, llm.hidden_size, requires_grad=True), torch.randn(4, llm.hidden_size, requires_grad=True)]
    batch = P.assemble(llm, prompts, soft, with_labels=True)
    seq = batch.inputs_embeds.shape[1]
    for i, p in enumerate(prompts):
        offset = seq - len(p.ids)
        rows = batch.inputs_embeds[i, [offset + j for j in p.soft_positions]]
        torch.testing.assert_close(rows, soft[i])
        n_target = len(p.ids) - p.n_prompt
        assert int((batch.labels[i] != -100).sum()) == n_target
    loss = P.forward_logits(llm, batch).sum()
    loss.backward()
    assert soft[0].grad is not None and soft[0].grad.abs().sum() > 0
    assert all(p.grad is None for p in llm.model.parameters())


def test_stop_at_newline_cuts_answer(tiny_llm):
    llm = tiny_llm
    gen = llm.generate([llm.chat_text("hello")], max_new_tokens=20)
    assert "\n" not in gen.texts[0]
    assert gen.new_tokens[0] <= 20
