"""Tiny randomly initialised causal LMs (Llama, Qwen2, GPT-2 families) with a byte-level BPE tokenizer.

Built from configs in well under a second, offline: the unit tests' stand-in for a real LLM.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from rag.llm import LLM

CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
SPECIALS = ["<|pad|>", "<|im_start|>", "<|im_end|>"]
_TRAINING_TEXT = [
    "Paris is the capital of France. Berlin is the capital of Germany.\n",
    "Question: Who wrote Hamlet?\nAnswer: William Shakespeare\n",
    "Background: The Eiffel Tower was completed in 1889 in Paris.\n",
    "The quick brown fox jumps over the lazy dog 0123456789.\n",
]


def make_tiny_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_TRAINING_TEXT * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|im_end|>",
                                   bos_token="<|im_start|>")
    fast.chat_template = CHATML
    return fast


def make_tiny_model(family: str, vocab_size: int, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    common = dict(vocab_size=vocab_size, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    if family == "llama":
        cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=2, max_position_embeddings=512, **common)
        return LlamaForCausalLM(cfg).eval()
    if family == "qwen2":
        cfg = Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=2, max_position_embeddings=512, **common)
        return Qwen2ForCausalLM(cfg).eval()
    if family == "gpt2":
        cfg = GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=512, **common)
        return GPT2LMHeadModel(cfg).eval()
    raise ValueError(family)


def make_tiny_llm(family: str = "llama", seed: int = 0) -> LLM:
    tok = make_tiny_tokenizer()
    model = make_tiny_model(family, len(tok), seed=seed)
    return LLM.from_model(model, tok, f"tiny-{family}")
