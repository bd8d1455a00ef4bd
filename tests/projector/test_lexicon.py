import torch

from projector.alignment import TokenLayout, alignment_pairs
from projector.lexicon import lexicon_texts


def test_lexicon_texts_are_the_whole_word_tokens_that_encode_back_to_themselves(tiny_llm):
    tok = tiny_llm.tokenizer
    texts = lexicon_texts(tok)
    assert texts and len(set(texts)) == len(texts)
    for text in texts:
        assert text[0] == " " and text[1:].isalnum()
        assert len(tok(text, add_special_tokens=False).input_ids) == 1
    singles = {i for i in range(len(tok)) if tok.convert_ids_to_tokens(i).startswith("Ġ")
               and tok.convert_ids_to_tokens(i)[1:].isalnum()}
    assert {tok(t, add_special_tokens=False).input_ids[0] for t in texts} <= singles


def test_each_lexicon_text_aligns_one_row_to_its_tokens_embedding(tiny_llm, tiny_embedder):
    texts = lexicon_texts(tiny_llm.tokenizer)
    pairs = alignment_pairs(tiny_llm, tiny_embedder, texts, TokenLayout(max_pieces=4), progress=False)
    ids = torch.tensor([tiny_llm.tokenizer(t, add_special_tokens=False).input_ids[0] for t in texts])
    assert len(pairs) == len(texts) and int(pairs.pieces.max()) == 0
    assert torch.equal(pairs.targets, tiny_llm.input_embeddings.weight.detach().float()[ids])
